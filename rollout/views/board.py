"""What the dashboard shows, as values: a card per service for the overview, and the
page of one release (its weights over time, each metric's readings with its gate, its
history, the service's events and past releases).

- `card(...)`: one service — its traffic split, the release's phase, step
  (`summary.position`), message (`summary.describe`, as `rollout status`), time in
  step, each metric's latest verdict, its problems (`views.problems`) and which
  commands apply now (`actions`: asked of `release.commands`, the CLI's own rules);
- `overview(cards)`: the cards in the order people need them — paused for a human
  first, then failing, then moving, then those whose last release ended badly, then
  the quiet ones (`Attention`);
- `release_page(...)`: everything the release page draws; the weights over time come
  from `status.history` (each entry carries the weights after it), the readings from
  what the dashboard recorded (`record`: the status keeps only each metric's latest
  reading), the per-step counts from `history[].evidence`;
- `record(kept, status, limit)`: the readings of one metric with the latest one added
  when it is new.

Pure: no I/O, no clock (`now` is passed in). Called by the dashboard's server
(`rollout.cli.dashboard`); drawn by `views.charts` and `views.pages`.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from rollout.api import durations, policyspec, release, revision, route, service
from rollout.api.release import TERMINAL_PHASES, Phase, Verdict
from rollout.release import commands, summary
from rollout.views import problems as problem_view

__all__ = [
    "ACTIONS",
    "Attention",
    "Card",
    "Entry",
    "Gate",
    "Hook",
    "MetricView",
    "PastRelease",
    "Reading",
    "ReleasePage",
    "Split",
    "StepCounts",
    "Verdicts",
    "WeightPoint",
    "actions",
    "card",
    "overview",
    "record",
    "release_page",
]

ACTIONS = ("promote", "promote-full", "pause", "resume", "retry", "abort")
"""The release commands a card may offer, in the order the buttons show (`undo`, a
service's command, is offered on the release page, where the revisions are read)."""
_ENDED_BADLY = frozenset({Phase.ROLLED_BACK, Phase.FAILED, Phase.ABORTED})


class Attention(enum.IntEnum):
    """How soon a person should look at a service; lower first."""

    HUMAN = 0  # paused: waits for someone (a pause step, a gate, failed or unclear analysis)
    FAILING = 1  # rolling back, a metric failing or erroring, or a blocking problem
    MOVING = 2  # a release going on by itself
    ENDED_BADLY = 3  # its last release rolled back, failed or was aborted
    QUIET = 4


@dataclasses.dataclass(frozen=True)
class Split:
    """One revision's share of the traffic, as the Route reports it applied."""

    revision: str
    percent: int
    tag: str = ""
    role: str = ""  # "stable", "canary" or ""


@dataclasses.dataclass(frozen=True)
class Verdicts:
    """A metric's latest verdict (None: not measured yet), value and reason."""

    metric: str
    verdict: str | None
    value: float | None
    reason: str
    at: datetime | None


@dataclasses.dataclass(frozen=True)
class Card:
    """One service on the overview."""

    namespace: str
    name: str
    stable: str | None
    canary: str | None
    traffic: tuple[Split, ...]
    release: str | None
    phase: str | None
    position: str  # "2/6"; "" without a plan
    step_index: int  # the API's stepIndex: what a promote from this page promotes from
    message: str
    in_step: str  # "1m30s" in the current step; "" when the release is not running
    verdicts: tuple[Verdicts, ...]
    problems: tuple[problem_view.Problem, ...]
    actions: tuple[str, ...]
    attention: Attention


def actions(rel: release.Release | None, now: datetime) -> tuple[str, ...]:
    """The commands that would write an intent now: each is asked of
    `release.commands`, the CLI's rules (one that raises `NotApplicable` or
    `AlreadyDone` is left out). The server decides again on a click."""
    if rel is None:
        return ()
    tries = {
        "promote": lambda: commands.promote(rel, full=False, now=now, by=None),
        "promote-full": lambda: commands.promote(rel, full=True, now=now, by=None),
        "pause": lambda: commands.pause(rel),
        "resume": lambda: commands.resume(rel, now=now, by=None),
        "retry": lambda: commands.retry(rel, now=now, by=None),
        "abort": lambda: commands.abort(rel),
    }
    found = []
    for name in ACTIONS:
        try:
            tries[name]()
        except (commands.NotApplicable, commands.AlreadyDone):
            continue
        found.append(name)
    return tuple(found)


def _traffic(
    svc: service.Service, rt: route.Route | None, rel: release.Release | None
) -> tuple[Split, ...]:
    targets = rt.status.traffic if rt is not None else svc.status.traffic
    roles = {rel.spec.canary_revision: "canary"} if rel is not None else {}
    if svc.status.stable_revision is not None:  # a promoted canary is the stable now
        roles[svc.status.stable_revision] = "stable"
    return tuple(
        Split(t.revision_name, t.percent, t.tag or "", roles.get(t.revision_name, ""))
        for t in targets
    )


def _attention(rel: release.Release | None, problems: Sequence[problem_view.Problem]) -> Attention:
    if rel is not None and rel.status.phase is Phase.PAUSED:
        return Attention.HUMAN
    bad = {Verdict.FAILED, Verdict.ERROR}
    running = rel is not None and rel.status.phase not in TERMINAL_PHASES
    if (
        any(p.blocking for p in problems)
        or (rel is not None and rel.status.phase is Phase.ROLLING_BACK)
        or (running and rel is not None and any(m.verdict in bad for m in rel.status.analysis))
    ):
        return Attention.FAILING
    if running:
        return Attention.MOVING
    if rel is not None and rel.status.phase in _ENDED_BADLY:
        return Attention.ENDED_BADLY
    return Attention.QUIET


def _message(rel: release.Release, now: datetime) -> str:
    """As `rollout status` says it: the stored message of a finished release."""
    if rel.status.phase in TERMINAL_PHASES:
        return rel.status.message or summary.describe(rel.spec, rel.status, now)
    return summary.describe(rel.spec, rel.status, now)


def _since(then: datetime | None, now: datetime) -> str:
    if then is None:
        return ""
    return durations.format_duration(timedelta(seconds=max(round((now - then).total_seconds()), 0)))


def card(
    svc: service.Service,
    rel: release.Release | None,
    now: datetime,
    *,
    rt: route.Route | None = None,
    problems: Sequence[problem_view.Problem] = (),
) -> Card:
    """One service's card; `rel`: its current release (None: none yet)."""
    running = rel is not None and rel.status.phase not in TERMINAL_PHASES
    return Card(
        namespace=svc.metadata.namespace or "default",
        name=svc.metadata.name,
        stable=svc.status.stable_revision,
        canary=rel.spec.canary_revision if rel is not None and running else None,
        traffic=_traffic(svc, rt, rel),
        release=rel.metadata.name if rel is not None else None,
        phase=rel.status.phase.value if rel is not None else None,
        position=summary.position(rel.spec, rel.status) if rel is not None else "",
        step_index=rel.status.step_index if rel is not None else 0,
        message=_message(rel, now) if rel is not None else "",
        in_step=_since(rel.status.step_started_at, now) if rel is not None and running else "",
        verdicts=tuple(
            Verdicts(m.metric, m.verdict.value if m.verdict else None, m.value, m.reason, m.at)
            for m in (rel.status.analysis if rel is not None else [])
        ),
        problems=tuple(problems),
        actions=actions(rel, now),
        attention=_attention(rel, problems),
    )


def overview(cards: Iterable[Card]) -> list[Card]:
    """The cards, the ones that need a person first (`Attention`), then by namespace
    and name."""
    return sorted(cards, key=lambda c: (c.attention, c.namespace, c.name))


# --- the release page ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Reading:
    """One reading of a metric as the dashboard saw it."""

    at: datetime
    value: float | None
    verdict: str | None
    reason: str = ""


@dataclasses.dataclass(frozen=True)
class Gate:
    """What a metric's readings are judged against, as a chart draws it:
    `sequential`: the e-value against `line` (1/alpha, log scale); `threshold`: the
    value between `low` and `high`; `mann-whitney`: the p-value (no line drawn)."""

    kind: str
    line: float | None = None
    low: float | None = None
    high: float | None = None

    @classmethod
    def of(cls, metric: policyspec.Metric | None) -> Gate:
        if metric is None:
            return cls("unknown")
        compare = metric.compare
        if compare is not None and compare.method is policyspec.CompareMethod.SEQUENTIAL:
            return cls("sequential", line=1 / compare.alpha)
        if metric.thresholds is not None:
            return cls("threshold", low=metric.thresholds.min, high=metric.thresholds.max)
        return cls("mann-whitney")

    def describe(self) -> str:
        if self.kind == "sequential" and self.line is not None:
            return f"fails at e-value ≥ {self.line:g} (1/alpha)"
        if self.kind == "threshold":
            parts = [f"min {self.low:g}"] if self.low is not None else []
            parts += [f"max {self.high:g}"] if self.high is not None else []
            return "passes within " + ", ".join(parts)
        return self.kind


@dataclasses.dataclass(frozen=True)
class StepCounts:
    """What a gating metric had shown when a step ended (`history[].evidence`)."""

    event: str  # the entry that closed the step: StepAdvanced, PromotedStep, …
    at: datetime
    passes: int
    failures: int
    inconclusive: int
    errors: int


@dataclasses.dataclass(frozen=True)
class MetricView:
    name: str
    gate: Gate
    latest: Verdicts | None
    readings: tuple[Reading, ...]
    steps: tuple[StepCounts, ...]


@dataclasses.dataclass(frozen=True)
class WeightPoint:
    """From `at` on, the canary had `canary` percent (the stable the rest)."""

    at: datetime
    canary: int


@dataclasses.dataclass(frozen=True)
class Entry:
    """A history entry as a row."""

    at: datetime
    event: str
    phase: str
    step: str
    canary: str
    by: str
    message: str


@dataclasses.dataclass(frozen=True)
class PastRelease:
    name: str
    stable: str | None
    canary: str
    phase: str
    took: str
    message: str


@dataclasses.dataclass(frozen=True)
class Hook:
    """A webhook's calls in this release: its last answer as shown — never its URL
    (a credential, for some) — as `rollout status` words it."""

    name: str
    type: str
    basis: str
    passed: bool
    answer: str
    calls: int
    ago: str


def _hook(w: release.WebhookStatus, now: datetime) -> Hook:
    if w.passed:
        answer = f"HTTP {w.http_status}" if w.http_status else (w.error or "passed")
    else:
        answer = w.error or (f"HTTP {w.http_status}" if w.http_status else "—")
    return Hook(w.name, w.type, w.basis, w.passed, answer, w.calls, _since(w.last_call_at, now))


@dataclasses.dataclass(frozen=True)
class ReleasePage:
    card: Card
    release: str
    stable: str | None
    canary: str
    started: datetime | None
    end: datetime  # where the time axis ends: the release's end, or now
    weights: tuple[WeightPoint, ...]
    metrics: tuple[MetricView, ...]
    webhooks: tuple[Hook, ...]
    entries: tuple[Entry, ...]
    releases: tuple[PastRelease, ...]
    events: tuple[tuple[str, ...], ...]  # `views.events.rows`
    can_undo: bool
    recorded_since: datetime | None  # readings are the dashboard's since then
    diagram: str  # the state machine (Graphviz SVG); "" when it could not be drawn


def weight_points(rel: release.Release) -> tuple[WeightPoint, ...]:
    """The canary's weight over time: 0 at the start, then each history entry that
    carries weights (only the changes)."""
    points: list[WeightPoint] = []
    start = rel.status.started_at or (rel.status.history[0].at if rel.status.history else None)
    if start is not None:
        points.append(WeightPoint(start, 0))
    for h in rel.status.history:
        if h.weights is None:
            continue
        if points and points[-1].canary == h.weights.canary:
            continue
        points.append(WeightPoint(h.at, h.weights.canary))
    return tuple(points)


def _steps(rel: release.Release, metric: str) -> tuple[StepCounts, ...]:
    out = []
    for h in rel.status.history:
        for e in h.evidence:
            if e.metric == metric:
                out.append(
                    StepCounts(h.event, h.at, e.passes, e.failures, e.inconclusive, e.errors)
                )
    return tuple(out)


def record(kept: Sequence[Reading], status: release.MetricStatus, *, limit: int) -> list[Reading]:
    """`kept` with the metric's latest reading added when it is newer than the last
    kept (a reading is known by its time); at most `limit`, the oldest dropped."""
    out = list(kept)
    if status.at is None or (out and out[-1].at >= status.at):
        return out
    verdict = status.verdict.value if status.verdict else None
    out.append(Reading(status.at, status.value, verdict, status.reason))
    return out[-limit:]


def _entry(h: release.HistoryEntry) -> Entry:
    return Entry(
        at=h.at,
        event=h.event,
        phase=h.phase.value if h.phase else "",
        step="" if h.step_index is None else str(h.step_index + 1),
        canary=f"{h.weights.canary}%" if h.weights else "",
        by=h.by or "",
        message=h.message,
    )


def _past(r: release.Release) -> PastRelease:
    took = ""
    if r.status.started_at and r.status.finished_at:
        took = _since(r.status.started_at, r.status.finished_at)
    return PastRelease(
        r.metadata.name,
        r.spec.stable_revision,
        r.spec.canary_revision,
        r.status.phase.value,
        took,
        r.status.message,
    )


def release_page(
    svc: service.Service,
    rel: release.Release,
    now: datetime,
    *,
    rt: route.Route | None = None,
    problems: Sequence[problem_view.Problem] = (),
    readings: dict[str, Sequence[Reading]] | None = None,
    recorded_since: datetime | None = None,
    releases: Sequence[release.Release] = (),
    revisions: Sequence[revision.Revision] = (),
    events: Sequence[Sequence[str]] = (),
    diagram: str = "",
) -> ReleasePage:
    """The page of `rel`, a release of `svc`; `readings`: metric → what was recorded;
    `releases`: the service's releases, oldest first; `events`: `views.events.rows`;
    `diagram`: the state machine's SVG (`rollout diagram`), drawn by the caller."""
    current = svc.status.current_release == rel.metadata.name
    shown = card(svc, rel, now, rt=rt, problems=problems)
    if not current:  # an old release: nothing to act on from its page
        shown = dataclasses.replace(shown, actions=())
    metrics = (
        {m.name: m for m in rel.spec.policy.analysis.metrics} if rel.spec.policy.analysis else {}
    )
    latest = {v.metric: v for v in shown.verdicts}
    names = list(dict.fromkeys([*metrics, *latest]))
    try:
        commands.undo(svc, list(revisions), to_revision=None)
        can_undo = bool(revisions)
    except commands.NotApplicable:
        can_undo = False
    return ReleasePage(
        card=shown,
        release=rel.metadata.name,
        stable=rel.spec.stable_revision,
        canary=rel.spec.canary_revision,
        started=rel.status.started_at,
        end=rel.status.finished_at or now,
        weights=weight_points(rel),
        metrics=tuple(
            MetricView(
                name=n,
                gate=Gate.of(metrics.get(n)),
                latest=latest.get(n),
                readings=tuple((readings or {}).get(n, ())),
                steps=_steps(rel, n),
            )
            for n in names
        ),
        webhooks=tuple(_hook(w, now) for w in rel.status.webhooks),
        entries=tuple(_entry(h) for h in rel.status.history),
        releases=tuple(_past(r) for r in releases),
        events=tuple(tuple(row) for row in events),
        can_undo=can_undo,
        recorded_since=recorded_since,
        diagram=diagram,
    )
