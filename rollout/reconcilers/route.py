"""The Route reconciler: asks the TrafficRouter to apply the split and the request rules
(header routes, mirrors, sticky session) and reports what it actually applied.

`status.traffic` is what the router reads back, never what was asked, with each
target's readiness where the router knows it (and `status.headerRoutes`, `mirrors`,
`sessionAffinity` the request rules it reads back, kept as they were while the router
reports a problem); Ready is `route.traffic_ready`: True
(`TrafficApplied`) only when that equals `spec.traffic` and every target with weight
is served, and the rules it reads back (copied into `status.headerRoutes`,
`status.mirrors`, `status.sessionAffinity`) equal the spec's (`TrafficNotApplied`,
naming the first rule that differs, otherwise). When the router could not apply the
split now (`AppliedRoute.problem`: the runtime has not confirmed an endpoint yet, the
proxy is down) Ready is False with its reason, the status keeps the last URL, and the
route is reconciled again soon:
`RETRY` at first (a gateway usually takes a new generation within moments), then
less often the longer Ready has been False — a quarter of that time, at most
`RETRY_MAX` — so that a route a gateway refuses is not polled twice a second for
ever (the local platform also wakes its routes when the proxy comes back).
A split someone else changed in the data plane is set right on the next pass —
within seconds on the local platform (its proxy supervisor wakes the route), at the
5-minute resync elsewhere — with a `DriftCorrected` warning event saying what it
was, recorded in `status.lastDrift`. A deleted Route is removed from the router; one
being deleted (`deletionTimestamp`) is not applied again (what the router made for it
is owned by it and goes with it).

Called by the controller.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from rollout.api import route
from rollout.reconcilers import base
from rollout.store import errors

__all__ = ["reconcile"]

RESYNC = timedelta(minutes=5)
RETRY = timedelta(seconds=0.1)  # a route the router could not apply now: first retry
RETRY_MAX = timedelta(seconds=10)


def reconcile(ctx: base.Context, key: base.Key) -> base.Result:
    try:
        rt = base.read(ctx, "Route", key.namespace, key.name)
    except errors.NotFound:
        ctx.platform.router.remove(key.namespace, key.name)
        return base.Result()
    assert isinstance(rt, route.Route)
    if base.terminating(rt):  # being deleted: its HTTPRoute/VirtualService goes with it
        return base.Result()
    now = ctx.clock.now()
    applied = ctx.platform.router.apply(rt)
    if applied.drift:  # someone changed the data plane behind our back; it is set right
        ctx.event(rt, "DriftCorrected", applied.drift, warning=True)
    problem = applied.problem
    status = rt.status.model_copy()
    status.observed_generation = rt.metadata.generation
    status.traffic = applied.traffic
    if problem is None:  # with a problem the data plane keeps what it held: so does the status
        status.header_routes = list(applied.header_routes)
        status.mirrors = list(applied.mirrors)
        status.session_affinity = applied.session_affinity
    if applied.url is not None or problem is None:
        status.url = applied.url
    if applied.drift:
        status.last_drift = route.DriftCorrection(corrected_at=now, message=applied.drift)
    status.mark_traffic(
        rt.spec.traffic,
        problem=(problem.reason, problem.message) if problem is not None else None,
        now=now,
        generation=rt.metadata.generation,
        rules=route.Rules.of(rt.spec),
    )
    base.write_status(ctx, rt, status)
    return base.Result(retry_after(status, now) if problem is not None else RESYNC)


def retry_after(status: route.RouteStatus, now: datetime) -> timedelta:
    """When to ask the router again about a route it could not apply: `RETRY`, growing
    to a quarter of the time Ready has been False, at most `RETRY_MAX`."""
    ready = status.ready_condition()
    since = ready.last_transition_time if ready is not None else None
    waited = now - since if since is not None else timedelta(0)
    return min(max(RETRY, waited / 4), RETRY_MAX)
