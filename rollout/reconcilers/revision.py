"""The Revision reconciler: asks the Runtime to run a revision and reports readiness.

Ready is True once the runtime's probe passes; False with the runtime's reason while
it starts (`Starting`), when it crash-loops (`CrashLoop`, permanent), or when it is
not ready within `spec.progressDeadline` of its creation
(`ProgressDeadlineExceeded`). What else the runtime says about the revision (its
`notices`, such as the local platform's `IgnoredOnLocal`) becomes a True condition of
that type, and a warning Event when it is new; a notice is never taken back (a
revision's template does not change). A deleted revision's workload is removed. While not
ready, the revision is looked at again every second (clock time); once ready,
every 5 minutes.

Called by the controller.
"""

from __future__ import annotations

from datetime import timedelta

from rollout.api import revision
from rollout.reconcilers import base
from rollout.store import errors

__all__ = ["reconcile"]

POLL_STARTING = timedelta(seconds=1)
POLL_READY = timedelta(minutes=5)


def reconcile(ctx: base.Context, key: base.Key) -> base.Result:
    try:
        rev = base.read(ctx, "Revision", key.namespace, key.name)
    except errors.NotFound:
        ctx.platform.runtime.remove(key.namespace, key.name)
        return base.Result()
    assert isinstance(rev, revision.Revision)
    now = ctx.clock.now()
    state = ctx.platform.runtime.ensure(rev)
    status = rev.status.model_copy()
    status.observed_generation = rev.metadata.generation
    status.replicas = state.replicas
    status.ready_replicas = state.ready_replicas
    status.restarts = state.restarts
    status.url = state.url
    status.ready = state.ready
    created = rev.metadata.creation_timestamp or now
    overdue = now - created >= rev.spec.progress_deadline
    generation = rev.metadata.generation
    if state.ready:
        status.mark_ready(now=now, generation=generation)
    elif state.failed:
        status.mark_failed(state.reason, state.message, now=now, generation=generation)
    elif overdue:
        deadline = rev.spec.progress_deadline
        status.mark_deadline_exceeded(deadline, state.message, now=now, generation=generation)
    else:
        status.mark_starting(state.reason, state.message, now=now, generation=generation)
    for notice in state.notices:
        if status.mark_notice(
            notice.type, notice.reason, notice.message, now=now, generation=generation
        ):
            ctx.event(rev, notice.type, notice.message, warning=True)
    ready = status.ready_condition()
    assert ready is not None
    reason, message = ready.reason, ready.message
    if status != rev.status and status.ready != rev.status.ready:
        ctx.event(rev, "Ready" if state.ready else reason, message or "the revision is ready")
    base.write_status(ctx, rev, status)
    return base.Result(POLL_READY if state.ready or state.failed else POLL_STARTING)
