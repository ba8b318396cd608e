"""The Route reconciler: asks the TrafficRouter to apply the split and reports what it
actually applied.

`status.traffic` is what the router reads back, never what was asked; Ready
(`TrafficApplied`) is True when that equals `spec.traffic`. A split someone else
changed in the data plane is found on the next pass (every 5 minutes) and set right,
with a `DriftCorrected` warning event saying what it was, recorded in
`status.lastDrift`. A
deleted Route is removed from the router.

Called by the controller.
"""

from __future__ import annotations

from datetime import timedelta

from rollout.api import condition, route, split
from rollout.reconcilers import base
from rollout.store import errors

__all__ = ["reconcile"]

RESYNC = timedelta(minutes=5)


def reconcile(ctx: base.Context, key: base.Key) -> base.Result:
    try:
        rt = base.read(ctx, "Route", key.namespace, key.name)
    except errors.NotFound:
        ctx.platform.router.remove(key.namespace, key.name)
        return base.Result()
    assert isinstance(rt, route.Route)
    now = ctx.clock.now()
    applied = ctx.platform.router.apply(rt)
    if applied.drift:  # someone changed the data plane behind our back; it is set right
        ctx.event(rt, "DriftCorrected", applied.drift, warning=True)
    ok = split.same_split(applied.traffic, rt.spec.traffic)
    status = rt.status.model_copy()
    status.observed_generation = rt.metadata.generation
    status.traffic = applied.traffic
    status.url = applied.url
    if applied.drift:
        status.last_drift = route.DriftCorrection(corrected_at=now, message=applied.drift)
    status.conditions = condition.set_condition(
        status.conditions,
        type_=condition.ConditionType.READY,
        status=condition.ConditionStatus.TRUE if ok else condition.ConditionStatus.FALSE,
        reason="TrafficApplied" if ok else "TrafficNotApplied",
        message="" if ok else "the router reports a different split than the route asks for",
        now=now,
        observed_generation=rt.metadata.generation,
    )
    base.write_status(ctx, rt, status)
    return base.Result(RESYNC)
