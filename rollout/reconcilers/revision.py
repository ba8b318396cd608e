"""The Revision reconciler: asks the Runtime to run a revision with the replicas its
routing marks call for, and reports its health (Ready) and activity (Active).

Replicas come from `scaling.desired` (the marks the Service reconciler writes, and
the time): an active revision runs at its full size (`scaling_of(rev).minReplicas`,
or a matched canary's count); a reserve one keeps running until its scale-down time
(`routing-state-modified + scale-down-delay`), then goes to 0 — the local platform
stops its process, Kubernetes scales its Deployment to 0. The decision to go to 0 is
persisted before the runtime acts on it (`desiredReplicas: 0`, Active False
`ScaledToZero`), so that a release reading the revision meanwhile never takes a
stopping revision for a serving one; a conflicting write (the Service marked it
active again) stops nothing.

Ready is the revision's health (see `rollout.api.revision`): True once the runtime's
probe passes; False with the runtime's reason when it crash-loops (`CrashLoop`,
permanent) or is not ready for `spec.progressDeadline` since its last progress
(`overdue_at`: its activation — its creation, or the last time it was marked active,
so a revision brought back from zero gets the whole deadline again — or the first
look that found it not ready, at its start or after it had been ready: a canary
restarted long after its creation gets the whole deadline to come back, as a
Deployment's `progressDeadlineSeconds` counts from its last progress); Unknown while
it starts (`Starting`). While it is not ready its Ready message says what happened
(`explain`: the runtime's exit cause and restarts, then its last lines of output,
at most `LOG_LINES` of `LOG_WIDTH` characters). A Ready revision
that scales keeps Ready while it has ready replicas (its capacity is
`readyReplicas`); one scaled to zero keeps the verdict it had. Active: True `Active`,
True `Reserve` (no traffic, with its scale-down time), False `ScaledToZero`, Unknown
`Activating`. Events: readiness changes as before, `ScaledToZero` and `Activating`
(brought back from zero). What else the runtime says about the revision (its
`notices`, such as the local platform's `IgnoredOnLocal`) becomes a True condition of
that type, and a warning Event when it is new; a notice is never taken back (a
revision's template does not change).

A deleted revision's workload is removed; one being deleted (`deletionTimestamp`)
is left alone (its workload is owned by it and goes with it, not made again). While
its workload moves (starting, scaling to a new count, draining to 0), the revision
is looked at again every second (clock time) — every 30 seconds when the runtime
watches the workload (`RuntimeState.watched`: a change wakes the revision), and at
its progress deadline; a reserve revision at its scale-down time; otherwise every 5
minutes.

Called by the controller.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from rollout.api import durations, revision
from rollout.api.revision import ActiveReason, RoutingState
from rollout.platforms import ports
from rollout.reconcilers import base, scaling
from rollout.store import errors

__all__ = ["cause", "explain", "overdue_at", "reconcile"]

POLL_STARTING = timedelta(seconds=1)
POLL_WATCHED = timedelta(seconds=30)  # a watched workload wakes us: a safety-net resync
POLL_READY = timedelta(minutes=5)
LOG_LINES = 3  # of a revision's own output in its Ready message
LOG_WIDTH = 200  # characters of each


def reconcile(ctx: base.Context, key: base.Key) -> base.Result:
    try:
        rev = base.read(ctx, "Revision", key.namespace, key.name)
    except errors.NotFound:
        ctx.platform.runtime.remove(key.namespace, key.name)
        return base.Result()
    assert isinstance(rev, revision.Revision)
    if base.terminating(rev):  # being deleted: its workload goes with it, not made again
        return base.Result()
    now = ctx.clock.now()
    generation = rev.metadata.generation
    want = scaling.desired(rev, now)
    if want.replicas == 0 and rev.status.desired_replicas != 0:
        # Persist the decision first: a Conflict here (marked active meanwhile) stops nothing.
        decided = rev.status.model_copy()
        decided.desired_replicas = 0
        decided.mark_scaled_to_zero(_retired(want), now=now, generation=generation)
        rev = base.write_status(ctx, rev, decided)
        assert isinstance(rev, revision.Revision)
        ctx.event(rev, "ScaledToZero", _retired(want))
    state = ctx.platform.runtime.ensure(rev, replicas=want.replicas)
    status = rev.status.model_copy()
    status.observed_generation = generation
    status.desired_replicas = want.replicas
    status.replicas = state.replicas
    status.ready_replicas = state.ready_replicas
    status.restarts = state.restarts
    status.url = state.url
    if want.replicas == 0:
        status.mark_scaled_to_zero(_retired(want), now=now, generation=generation)
    else:
        _health(rev, want, state, status, now)
        _activity(want, state, status, now)
    for notice in state.notices:
        if status.mark_notice(
            notice.type, notice.reason, notice.message, now=now, generation=generation
        ):
            ctx.event(rev, notice.type, notice.message, warning=True)
    if rev.status.scaled_to_zero() and want.replicas > 0:
        ctx.event(rev, "Activating", f"routed again: scaling from 0 to {want.replicas} replicas")
    ready = status.ready_condition()
    if ready is not None and status != rev.status and status.ready != rev.status.ready:
        message = ready.message or "the revision is ready"
        ctx.event(rev, "Ready" if status.ready else ready.reason, message)
    elif ready is not None and status.failure() not in (None, rev.status.failure()):
        ctx.event(rev, ready.reason, ready.message, warning=True)  # it failed: CrashLoop, …
    base.write_status(ctx, rev, status)
    # When to look again, from the status just decided (its Ready says since when it starts).
    return base.Result(_requeue(rev.model_copy(update={"status": status}), want, state, now))


def _health(
    rev: revision.Revision,
    want: scaling.Want,
    state: ports.RuntimeState,
    status: revision.RevisionStatus,
    now: datetime,
) -> None:
    """Set Ready from the runtime's state."""
    generation = rev.metadata.generation
    # A Ready revision that scales (up for a canary's next weight, or back down) keeps
    # Ready while replicas serve: readiness is not "every replica asked for is up".
    scaling_ready = (
        rev.status.ready
        and not rev.status.scaled_to_zero()
        and state.ready_replicas > 0
        and not state.failed
    )
    status.ready = state.ready or scaling_ready
    overdue = now >= overdue_at(rev, want, now)
    if status.ready:
        status.mark_ready(now=now, generation=generation)
    elif state.failed:
        status.mark_failed(state.reason, explain(state), now=now, generation=generation)
    elif overdue:
        status.mark_deadline_exceeded(
            rev.spec.progress_deadline,
            _with_log(state.message, state),
            cause=cause(state),
            now=now,
            generation=generation,
        )
    else:
        status.mark_starting(state.reason, explain(state), now=now, generation=generation)


def cause(state: ports.RuntimeState) -> str:
    """What happened to it, in a few words: `killed by SIGKILL, restarted 3 times`
    (empty when the runtime saw no exit and no restart)."""
    restarts = state.restarts
    counted = f"restarted {restarts} time{'s' if restarts != 1 else ''}" if restarts else ""
    return ", ".join(part for part in (state.last_exit, counted) if part)


def explain(state: ports.RuntimeState) -> str:
    """The Ready message of a revision not ready: the runtime's message after what
    happened to it, on one line; then its last lines of output (at most `LOG_LINES`,
    each at most `LOG_WIDTH` characters, indented) — a few lines for `rollout status`,
    whose first says it all (a release's failure message takes only that one)."""
    why = cause(state)
    text = f"{why}; {state.message}" if why and state.message else why or state.message
    return _with_log(text, state)


def _with_log(text: str, state: ports.RuntimeState) -> str:
    lines = [_cut(line) for line in state.log_tail[-LOG_LINES:] if line.strip()]
    if not lines:
        return text
    return "\n".join([text, "last log lines:", *(f"  {line}" for line in lines)])


def _cut(line: str) -> str:
    line = line.rstrip()
    return line if len(line) <= LOG_WIDTH else line[: LOG_WIDTH - 1] + "…"


def _activity(
    want: scaling.Want, state: ports.RuntimeState, status: revision.RevisionStatus, now: datetime
) -> None:
    """Set Active for a revision asked to run: Active or Reserve once it is ready,
    Activating until then."""
    generation = status.observed_generation
    if not status.ready:
        detail = f"{state.reason}: {state.message}" if state.message else state.reason
        status.mark_activating(detail, now=now, generation=generation)
    elif want.state is RoutingState.RESERVE:
        status.mark_active(ActiveReason.RESERVE, _reserve(want), now=now, generation=generation)
    else:
        status.mark_active(ActiveReason.ACTIVE, "", now=now, generation=generation)


def _reserve(want: scaling.Want) -> str:
    since = f" since {_at(want.since)}" if want.since is not None else ""
    if want.scale_down_at is None:
        return f"no traffic{since}; its scale-down marks cannot be read: kept running"
    delay = durations.format_duration(want.delay) if want.delay is not None else "?"
    return (
        f"no traffic{since}; scaled to zero at {_at(want.scale_down_at)} (scaleDownDelay {delay})"
    )


def _retired(want: scaling.Want) -> str:
    since = f" since {_at(want.since)}" if want.since is not None else ""
    delay = durations.format_duration(want.delay) if want.delay is not None else "?"
    return f"no traffic{since}: scaled to zero after {delay} (scaleDownDelay)"


def _at(at: datetime) -> str:
    return scaling.format_time(at.replace(microsecond=0)).replace(".000000", "")


def overdue_at(rev: revision.Revision, want: scaling.Want, now: datetime) -> datetime:
    """When a revision not ready now is overdue: `progressDeadline` after its last
    progress — its activation (its creation, or the last time it was marked active) or
    the first look that found it not ready (`RevisionStatus.not_ready_since`: at its
    start, or after it had been ready), whichever is later. Counted from the creation
    alone, one restart of a canary that had been ready for longer than the deadline
    failed it at once (issue 19). Pure."""
    created = rev.metadata.creation_timestamp or now
    since = max(created, want.since) if want.since is not None else created
    left = rev.status.not_ready_since(now)
    if left is not None:
        since = max(since, left)
    return since + rev.spec.progress_deadline


def _requeue(
    rev: revision.Revision, want: scaling.Want, state: ports.RuntimeState, now: datetime
) -> timedelta:
    """Every second while the workload moves (starting, scaling, draining) — every 30
    seconds when the runtime watches it (a change wakes us), and at the progress
    deadline of one not ready — else every 5 minutes; a reserve revision at its
    scale-down time."""
    moving = POLL_WATCHED if state.watched else POLL_STARTING
    if want.replicas == 0:
        poll = moving if state.replicas else POLL_READY
    else:
        poll = POLL_READY if state.ready or state.failed else moving
    due = want.requeue(now)
    overdue = overdue_at(rev, want, now)
    if want.replicas and not state.ready and not state.failed and overdue > now:
        due = overdue - now if due is None else min(due, overdue - now)
    return poll if due is None else min(poll, due)
