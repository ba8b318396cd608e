"""Why a service is not where it should be: the problems `rollout status` lists.

`gather(...)` turns what is stored about one service — the Service, its Revisions,
its Route, its current Release — and what is known of the controller (its last
heartbeat) into a list of `Problem`s, one per cause, each with the object it comes
from, a CamelCase reason and the message as the object's condition writes it:

- the Service's own reasons on its Ready condition (`PolicyNotFound`,
  `RevisionMissing`, the workloadRef ones, `InvalidSpec`) — the reasons it only
  passes through from a revision or its route are listed from those objects instead,
  once;
- each revision that matters (the latest, the stable, the release's canary, those
  the route sends traffic to): a Ready condition False (failed: `CrashLoop`,
  `ProgressDeadlineExceeded`, …) or Unknown for a reason other than starting
  (`Restarting`, `ProbeFailing`, … — the runtime's message, with the exit cause and
  the last lines of the log where the runtime gives them);
- the Route: its Ready condition when not True (`ProxyDown`, `TrafficNotServed`, …);
- every object: a True `ReconcileError` (the controller failed to apply it: an
  "Address already in use", a refused write, …) and a Ready of reason `InvalidSpec`;
- the current Release: a pause that waits on a confirm-* gate, or on a human after
  failed, inconclusive or erroring analysis; its non-True conditions;
- the controller: no heartbeat for longer than `Heartbeat.stale_after`.

`ready(svc, rt)` is the READY of `rollout get services`: True only while the Route
is Ready too.

A condition written for an older generation than the object's (the controller has
not seen the latest change yet) is not a problem any more, or not yet. A problem is
`blocking` when the service can make no progress until someone acts (a missing
policy or revision, an invalid spec, the latest revision failed, no controller for
longer than the grace period): `rollout status --watch` exits 1 on one.

Pure; no I/O, no clock (`now` is given). Called by `rollout status`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import datetime

from rollout.api import condition, release, revision, route, service
from rollout.api.release import TERMINAL_PHASES, PauseReason

__all__ = ["Heartbeat", "Problem", "gather", "ready"]

# The Service's own reasons (not passed through from a revision or its route), and
# which of them need someone to act.
_SERVICE_OWN = {
    service.Reason.POLICY_NOT_FOUND,
    service.Reason.REVISION_MISSING,
    service.Reason.WORKLOAD_REF_UNSUPPORTED,
    service.Reason.WORKLOAD_NOT_FOUND,
    service.Reason.WORKLOAD_INVALID,
    condition.INVALID_SPEC,
}
# A revision not ready yet for these reasons is on its way, not in trouble.
_STARTING = {"Starting", "Ready", "RevisionPending", "Activating", "ScaledToZero", ""}
_ERROR = "ReconcileError"  # rollout.reconcilers.base.ERROR_CONDITION
_HUMAN_PAUSES = {
    PauseReason.CONFIRMATION: "WaitingOnGate",
    PauseReason.FAILURE: "PausedOnFailure",
    PauseReason.INCONCLUSIVE: "PausedInconclusive",
    PauseReason.ERRORS: "PausedOnErrors",
}


@dataclasses.dataclass(frozen=True)
class Problem:
    """One cause: where it is seen (`Revision/web-00002`), its reason and message."""

    source: str
    reason: str
    message: str
    blocking: bool = False

    def to_json(self) -> dict[str, str]:
        """The `-o json` shape: `{source, reason, message}`."""
        return {"source": self.source, "reason": self.reason, "message": self.message}

    def text(self) -> str:
        """`Revision/web-00002: CrashLoop: exited with code 3 …`."""
        return (
            f"{self.source}: {self.reason}: {self.message}"
            if self.message
            else (f"{self.source}: {self.reason}")
        )


@dataclasses.dataclass(frozen=True)
class Heartbeat:
    """What is known of the controller: its last heartbeat (`at`, None: none seen),
    the wall-clock `now`, how often it beats (`period`, s), how old a heartbeat may
    get before no controller is seen (`stale_after`, s), and since when the caller
    has been looking (`watching_since`: with no heartbeat at all, absence is counted
    from there). `grace`: seconds without a controller after which the service is
    blocked."""

    at: datetime | None
    now: datetime
    period: float
    stale_after: float
    grace: float
    watching_since: datetime | None = None
    where: str = ""  # where the heartbeat is looked for, for the message

    def problem(self) -> Problem | None:
        start = "start one with `rollout controller`"
        if self.at is None:
            since = self.watching_since
            gone = (self.now - since).total_seconds() if since is not None else 0.0
            where = f" (no heartbeat in {self.where})" if self.where else ""
            return Problem(
                "controller",
                "NoController",
                f"no controller seen{where}; {start}",
                blocking=since is not None and gone > self.grace,
            )
        age = (self.now - self.at).total_seconds()
        if age <= self.stale_after:
            return None
        return Problem(
            "controller",
            "NoController",
            f"no controller seen for {round(age)}s (its heartbeat is due every"
            f" {self.period:g}s); {start}",
            blocking=age > self.grace,
        )


def gather(
    svc: service.Service,
    *,
    revisions: Sequence[revision.Revision] = (),
    rt: route.Route | None = None,
    rel: release.Release | None = None,
    heartbeat: Heartbeat | None = None,
    policy_found: bool | None = None,
) -> list[Problem]:
    """The problems of `svc` (see the module docstring), the controller's first.

    `policy_found`: whether the policy the Service names exists now (None: not looked
    up) — a `PolicyNotFound` written before it was created is not blocking."""
    found: list[Problem] = []
    if heartbeat is not None and (beat := heartbeat.problem()) is not None:
        found.append(beat)
    found.extend(_service(svc, policy_found=policy_found))
    latest = svc.status.latest_created_revision
    for rev in _that_matter(svc, revisions, rt, rel):
        found.extend(_revision(rev, latest=rev.metadata.name == latest))
    if rt is not None:
        found.extend(_route(rt))
    if rel is not None and rel.status.phase not in TERMINAL_PHASES:
        found.extend(_release(rel))
    return found


def _current(obj_generation: int | None, c: condition.Condition) -> bool:
    """Written for the object's latest generation (or nothing says otherwise)."""
    return (
        c.observed_generation is None
        or obj_generation is None
        or (c.observed_generation == obj_generation)
    )


def _errors(source: str, conditions: Iterable[condition.Condition]) -> list[Problem]:
    """A True ReconcileError: the controller could not apply the object."""
    return [
        Problem(source, c.reason or _ERROR, c.message)
        for c in conditions
        if c.type == _ERROR and c.status is condition.ConditionStatus.TRUE
    ]


def _service(svc: service.Service, *, policy_found: bool | None) -> list[Problem]:
    source = f"Service/{svc.metadata.name}"
    found = _errors(source, svc.status.conditions)
    ready = svc.status.ready_condition()
    if (
        ready is not None
        and ready.status is not condition.ConditionStatus.TRUE
        and ready.reason in _SERVICE_OWN
        and _current(svc.metadata.generation, ready)
    ):
        if ready.reason == service.Reason.POLICY_NOT_FOUND and policy_found:
            message = f"{ready.message} (it does now: the controller has not caught up yet)"
            found.append(Problem(source, ready.reason, message))
        else:
            found.append(Problem(source, ready.reason, ready.message, blocking=True))
    return found


def _that_matter(
    svc: service.Service,
    revisions: Sequence[revision.Revision],
    rt: route.Route | None,
    rel: release.Release | None,
) -> list[revision.Revision]:
    """The latest, the stable, the release's two and the routed revisions, oldest first."""
    wanted = {svc.status.latest_created_revision, svc.status.stable_revision}
    if rel is not None and rel.status.phase not in TERMINAL_PHASES:
        wanted |= {rel.spec.canary_revision, rel.spec.stable_revision}
    if rt is not None:
        wanted |= {t.revision_name for t in rt.spec.traffic if t.percent > 0}
    return [r for r in revisions if r.metadata.name in wanted]


def _revision(rev: revision.Revision, *, latest: bool) -> list[Problem]:
    source = f"Revision/{rev.metadata.name}"
    found = _errors(source, rev.status.conditions)
    ready = rev.status.ready_condition()
    if ready is None or not _current(rev.metadata.generation, ready):
        return found
    if ready.reason == condition.INVALID_SPEC:
        found.append(Problem(source, ready.reason, ready.message, blocking=True))
    elif rev.status.failure() is not None:  # Ready False, and it runs or was asked to
        found.append(Problem(source, ready.reason, _restarts(rev, ready), blocking=latest))
    elif (
        ready.status is condition.ConditionStatus.UNKNOWN
        and ready.reason not in _STARTING
        and not rev.status.scaled_to_zero()
    ):
        found.append(Problem(source, ready.reason, _restarts(rev, ready)))
    return found


def _restarts(rev: revision.Revision, ready: condition.Condition) -> str:
    """The condition's message, with the restart count when it does not say it."""
    n = rev.status.restarts
    if not n or f"{n} restart" in ready.message or f"restarted {n}" in ready.message:
        return ready.message
    counted = f"{n} restart{'s' if n != 1 else ''}"
    return f"{ready.message} ({counted})" if ready.message else counted


def _route(rt: route.Route) -> list[Problem]:
    source = f"Route/{rt.metadata.name}"
    found = _errors(source, rt.status.conditions)
    ready = rt.status.ready_condition()
    if (
        ready is not None
        and ready.status is not condition.ConditionStatus.TRUE
        and _current(rt.metadata.generation, ready)
    ):
        blocking = ready.reason == condition.INVALID_SPEC
        found.append(Problem(source, ready.reason, ready.message, blocking=blocking))
    return found


def _release(rel: release.Release) -> list[Problem]:
    source = f"Release/{rel.metadata.name}"
    found = _errors(source, rel.status.conditions)
    found.extend(
        Problem(source, c.reason or c.type, c.message, blocking=c.reason == condition.INVALID_SPEC)
        for c in rel.status.conditions
        if c.type != _ERROR
        and c.status is not condition.ConditionStatus.TRUE
        and _current(rel.metadata.generation, c)
    )
    reason = rel.status.pause_reason
    if rel.status.phase is release.Phase.PAUSED and reason in _HUMAN_PAUSES:
        message = rel.status.message or f"paused ({reason})"
        found.append(Problem(source, _HUMAN_PAUSES[reason], message))
    return found


def ready(svc: service.Service, rt: route.Route | None) -> str:
    """The READY `rollout get services` shows: the Service's Ready condition status
    (`True`, `False`, `Unknown`, `""` when it has none), but `False` when its Route is
    missing or not Ready now (the proxy down, the traffic not served): the Service's
    copy is refreshed only when the Service is reconciled, the Route's when the data
    plane changes."""
    own = svc.status.ready_condition()
    if own is None:
        return ""
    if own.status is not condition.ConditionStatus.TRUE:
        return own.status.value
    if rt is None or not condition.is_true(rt.status.conditions, condition.ConditionType.READY):
        return condition.ConditionStatus.FALSE.value
    return own.status.value
