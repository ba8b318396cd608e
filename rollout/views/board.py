"""What the dashboard's overview shows, as values: a card per service.

- `card(...)`: one service — its traffic split, the release's phase, step
  (`summary.position`), message (`summary.describe`, as `rollout status`), time in
  step, each metric's latest verdict, its problems (`views.problems`) and which
  commands apply now (`actions`: asked of `release.commands`, the CLI's own rules);
- `overview(cards)`: the cards in the order people need them — paused for a human
  first, then failing, then moving, then those whose last release ended badly, then
  the quiet ones (`Attention`).

A release's own page is `views.releasepage`.

Pure: no I/O, no clock (`now` is passed in). Called by the dashboard's server
(`rollout.cli.dashboard`); drawn by `views.charts` and `views.pages`.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from rollout.api import durations, release, route, service
from rollout.api.release import TERMINAL_PHASES, Phase, Verdict
from rollout.release import commands, summary
from rollout.views import problems as problem_view

__all__ = [
    "ACTIONS",
    "Attention",
    "Card",
    "Split",
    "Verdicts",
    "actions",
    "card",
    "overview",
    "since",
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


def since(then: datetime | None, now: datetime) -> str:
    """`1m30s` from `then` to `now` ("" without `then`)."""
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
        in_step=since(rel.status.step_started_at, now) if rel is not None and running else "",
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
