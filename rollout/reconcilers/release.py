"""The Release reconciler: runs the release engine against the world.

observe → decide → apply → persist:
- observe: the canary revision's readiness (a False Ready condition is a canary
  failure, e.g. a crash loop), the weights the Route reports as applied, one reading
  per metric that is due (MetricProvider; sequential comparisons read the increment
  since the metric's `measuredUntil`), whether the Service has moved on (a newer
  revision, a manual split, the policy removed), and the time — a frozen
  `Observation`;
- decide: `rollout.release.engine.decide` (pure);
- apply: `SetWeights` → the Route's spec (stable and canary tagged), events → the
  recorder. Applied before the status is persisted: after a crash the engine decides
  the same step again and re-applies the same absolute weights (idempotent); a route
  already at the next step's weights does not hold the step it was decided from
  (`weights_ahead` in the engine: a lost status write once wedged a release there);
- persist: the new status in one write, skipped when only the time-dependent parts
  (`nextDecisionAt`, the "… left" of the message) changed.
Returns the engine's `requeue_after`. The observation says `readiness_wakes`: the
controller's wiring queues a release on every change of its canary revision, so while
the release waits for its canary the engine asks again at the progress deadline, not
every 2 s (one Release reconcile in eight was such a poll in the benchmark).
One canonical log line per phase transition.

Called by the controller.
"""

from __future__ import annotations

from datetime import datetime

from rollout.api import condition, release, revision, route, service, split
from rollout.api.release import TERMINAL_PHASES, Weights
from rollout.platforms import ports
from rollout.reconcilers import base
from rollout.reconcilers.service import builders
from rollout.release import actions, engine, observation
from rollout.store import errors

__all__ = ["reconcile"]

log = base.log


def reconcile(ctx: base.Context, key: base.Key) -> base.Result:
    try:
        rel = base.read(ctx, "Release", key.namespace, key.name)
    except errors.NotFound:
        return base.Result()
    assert isinstance(rel, release.Release)
    if rel.status.phase in TERMINAL_PHASES:
        return base.Result()
    now = ctx.clock.now()
    spec = rel.spec
    rt = _get(ctx, "Route", key.namespace, spec.service)
    ready, failure = _canary(ctx, key.namespace, spec.canary_revision)
    obs = observation.Observation(
        now=now,
        canary_ready=ready,
        canary_failure=failure,
        applied=_applied(rt, spec) if isinstance(rt, route.Route) else None,
        readings=tuple(
            ctx.platform.metrics.measure(m, _measure_context(rel, key.namespace, now, m.name))
            for m in engine.due_metrics(spec.policy, rel.status, now)
        ),
        superseded_by=_superseded_by(ctx, rel),
        readiness_wakes=True,
    )
    decision = engine.decide(spec, rel.status, obs)
    for action in decision.actions:
        if isinstance(action, actions.SetWeights):
            _set_weights(ctx, rt, rel, action.weights)
        else:
            ctx.event(rel, action.reason, action.message, warning=action.warning)
    new = base.without_error(decision.status)
    new.observed_generation = rel.metadata.generation
    if ctx.on_release is not None:
        verdicts = tuple(
            m.verdict
            for m in new.analysis
            if m.verdict is not None and any(r.metric == m.metric for r in obs.readings)
        )
        ctx.on_release(key, new, verdicts)
    if new.phase != rel.status.phase:
        log.info(
            "release.transition",
            namespace=key.namespace,
            release=key.name,
            service=spec.service,
            phase_from=rel.status.phase.value,
            phase_to=new.phase.value,
            step=new.step_index,
            canary_weight=new.weights.canary if new.weights else None,
            message=new.message,
        )
    if _significant(new) != _significant(rel.status):
        base.update_status(ctx, rel.model_copy(update={"status": new}))
    return base.Result(decision.requeue_after)


def _significant(status: release.ReleaseStatus) -> release.ReleaseStatus:
    return status.model_copy(update={"next_decision_at": None, "message": ""})


def _get(ctx: base.Context, kind: str, namespace: str, name: str | None) -> object | None:
    if name is None:
        return None
    try:
        return base.read(ctx, kind, namespace, name)
    except errors.NotFound:
        return None


def _canary(ctx: base.Context, namespace: str, name: str) -> tuple[bool, str | None]:
    """Whether the canary is ready, and why it failed (None while it has not)."""
    rev = _get(ctx, "Revision", namespace, name)
    if not isinstance(rev, revision.Revision):
        return False, f"revision {name} does not exist"
    ready = condition.get_condition(rev.status.conditions, condition.ConditionType.READY)
    failure = None
    if ready is not None and ready.status is condition.ConditionStatus.FALSE:
        failure = f"{ready.reason}: {ready.message}" if ready.message else ready.reason
    return rev.status.ready, failure


def _applied(rt: route.Route, spec: release.ReleaseSpec) -> Weights | None:
    """The applied split as release weights; None when it involves other revisions."""
    canary = stable = 0
    for target in rt.status.traffic:
        if target.revision_name == spec.canary_revision:
            canary += target.percent
        elif target.revision_name == spec.stable_revision:
            stable += target.percent
        elif target.percent:
            return None
    if canary + stable != 100:
        return None
    return Weights(stable=stable, canary=canary)


def _measure_context(
    rel: release.Release, namespace: str, now: datetime, metric: str
) -> ports.MeasureContext:
    measured_until = next(
        (m.measured_until for m in rel.status.analysis if m.metric == metric), None
    )
    return ports.MeasureContext(
        namespace=namespace,
        service=rel.spec.service,
        stable=rel.spec.stable_revision,
        canary=rel.spec.canary_revision,
        now=now,
        release_started_at=rel.status.started_at,
        measured_until=measured_until,
    )


def _superseded_by(ctx: base.Context, rel: release.Release) -> str | None:
    svc = _get(ctx, "Service", rel.metadata.namespace or "default", rel.spec.service)
    if not isinstance(svc, service.Service):
        return "the service was deleted"
    if svc.spec.traffic is not None:
        return "a manual traffic split"
    if svc.spec.policy is None:
        return "an immediate rollout (the policy was removed)"
    latest = svc.status.latest_created_revision
    newer = builders.number_of(latest) > builders.number_of(rel.spec.canary_revision)
    return latest if newer else None


def _set_weights(
    ctx: base.Context, rt: object | None, rel: release.Release, weights: Weights
) -> None:
    spec = rel.spec
    traffic = [
        split.TrafficTarget(
            revision_name=spec.canary_revision, percent=weights.canary, tag="canary"
        )
    ]
    if spec.stable_revision is not None:
        traffic.insert(
            0,
            split.TrafficTarget(
                revision_name=spec.stable_revision, percent=weights.stable, tag="stable"
            ),
        )
    if not isinstance(rt, route.Route):
        raise errors.NotFound(f"Route {spec.service} does not exist yet")
    if rt.spec.traffic != traffic:
        base.update(
            ctx, rt.model_copy(update={"spec": rt.spec.model_copy(update={"traffic": traffic})})
        )
