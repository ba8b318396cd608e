"""What a release's page on the dashboard shows, as values: its card
(`views.board`), the weight of each revision over time, each metric's readings
against its gate, its webhook calls, its history, the service's releases and events.

- `release_page(...)`: all of it. The weights over time come from `status.history`
  (each entry carries the weights after it); the readings from the release itself
  (`readings`: `status.analysis[].recent`, the last `RECENT_READINGS` of each
  metric), so a page shows the same whenever the dashboard was started; the per-step
  counts from `history[].evidence`;
- `readings(status)`: the readings of one metric, as a chart draws them;
- `weight_points(rel)`: the canary's weight at each change.

Pure: no I/O, no clock (`now` is passed in). Called by the dashboard's server
(`rollout.cli.dashboard`); drawn by `views.charts` and `views.pages`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

from rollout.api import policyspec, release, revision, route, service
from rollout.release import commands
from rollout.views import board
from rollout.views import problems as problem_view

__all__ = [
    "Entry",
    "Gate",
    "Hook",
    "MetricView",
    "PastRelease",
    "Reading",
    "ReleasePage",
    "StepCounts",
    "WeightPoint",
    "readings",
    "release_page",
    "weight_points",
]


@dataclasses.dataclass(frozen=True)
class Reading:
    """One reading of a metric as a chart draws it (the reason: the latest's only,
    the release keeps no other)."""

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
    latest: board.Verdicts | None
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
    return Hook(
        w.name, w.type, w.basis, w.passed, answer, w.calls, board.since(w.last_call_at, now)
    )


@dataclasses.dataclass(frozen=True)
class ReleasePage:
    card: board.Card
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


def readings(status: release.MetricStatus) -> tuple[Reading, ...]:
    """The metric's readings kept in the release, oldest first, the latest with its
    reason. A status stored before releases kept them (no `recent`) gives its latest
    reading alone."""
    kept = [(r.at, r.value, r.verdict) for r in status.recent]
    if not kept and status.at is not None and status.verdict is not None:
        kept = [(status.at, status.value, status.verdict)]
    return tuple(
        Reading(at, value, verdict.value, status.reason if at == status.at else "")
        for at, value, verdict in kept
    )


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
        took = board.since(r.status.started_at, r.status.finished_at)
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
    releases: Sequence[release.Release] = (),
    revisions: Sequence[revision.Revision] = (),
    events: Sequence[Sequence[str]] = (),
    diagram: str = "",
) -> ReleasePage:
    """The page of `rel`, a release of `svc`; `releases`: the service's releases,
    oldest first; `events`: `views.events.rows`; `diagram`: the state machine's SVG
    (`rollout diagram`), drawn by the caller."""
    current = svc.status.current_release == rel.metadata.name
    shown = board.card(svc, rel, now, rt=rt, problems=problems)
    if not current:  # an old release: nothing to act on from its page
        shown = dataclasses.replace(shown, actions=())
    metrics = (
        {m.name: m for m in rel.spec.policy.analysis.metrics} if rel.spec.policy.analysis else {}
    )
    latest = {v.metric: v for v in shown.verdicts}
    kept = {m.metric: readings(m) for m in rel.status.analysis}
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
                readings=kept.get(n, ()),
                steps=_steps(rel, n),
            )
            for n in names
        ),
        webhooks=tuple(_hook(w, now) for w in rel.status.webhooks),
        entries=tuple(_entry(h) for h in rel.status.history),
        releases=tuple(_past(r) for r in releases),
        events=tuple(tuple(row) for row in events),
        can_undo=can_undo,
        diagram=diagram,
    )
