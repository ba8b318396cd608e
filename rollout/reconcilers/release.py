"""The Release reconciler: runs the release engine against the world.

observe → decide → apply → persist:
- observe (`_observe`): the canary revision's readiness (serving: Ready and Active,
  so that a canary scaled to zero gets no weight until it runs again; a False Ready
  condition of a canary that runs is a canary failure, e.g. a crash loop), the
  weights the Route reports as applied (in effect: its router's problem, e.g. a
  gateway that refused the route, is observed too — past the progress deadline, of
  the step or of entering Promoting/RollingBack, it fails the release with that
  message), the readings of the metrics that are due
  (sequential comparisons read the increment since the metric's `measuredUntil`),
  whether the Service has moved on (a newer revision, a manual split, the policy
  removed), and the time — a frozen `Observation`. Readings come from `ctx.measurements`
  (`rollout.controller.measuring`), which never waits: a reading still in flight is
  left out (the engine decides with the readings it has, so commands and a newer
  revision act at once) and its release is woken when it completes or its deadline
  passes (the engine leaves metrics in flight out of its requeue:
  `Observation.in_flight`; `engine.POLL` stays a floor while one is, so a lost wake
  costs seconds, not a spin). An object that cannot be read (a store or API failure,
  not NotFound) is unknown, never a decision: the Route's weights as not known, the
  canary as not ready but not failed, the Service as not moved on — so `abort` and a
  supersede are still decided. The request rules the Route reads back (`RouteStatus`
  header routes, mirrors, sticky session) are observed with the weights, and the
  release's attempt (its sticky cookie names it);
  The webhooks due (`rollout.release.hooks.due`) are called the same way, through
  `ctx.hooks` (`rollout.controller.hooking`): the answers that are in join the
  observation, the hooks still being called are left out of the requeue and wake the
  release when they end; so are the notifications (`rollout.release.notify.due`,
  through `ctx.notices`: the policy's, else the controller's default list). A finished
  release is only looked at for what its webhooks and notifications still owe — the
  outcome, the last events — and then left;
- decide: `rollout.release.engine.decide` (pure);
- apply: the decision's events → the recorder (best effort: an event that cannot be
  recorded is logged). Weights and request rules are not applied here: the release's
  status carries them, and the Service reconciler — the one writer of `Route.spec` — turns them into
  the Route's split (`reconcilers/service/plan.py`); the controller's wiring wakes it
  when a release's weights or phase change. The engine steps on only once the Route
  reports the weights applied, so a status written before the Route is harmless, and
  an `abort` is persisted whatever state the Route is in;
- persist: the new status in one write, skipped when only the time-dependent parts
  (`nextDecisionAt`, the "… left" of the message) changed.
Returns the engine's `requeue_after`. The observation says `readiness_wakes`: the
controller's wiring queues a release on every change of its canary revision, so while
the release waits for its canary the engine asks again at the progress deadline, not
every 2 s. A release that ended (or is gone) has its readings dropped
(`measurements.forget`). One canonical log line per phase transition.

Called by the controller.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from rollout.analysis import measurement
from rollout.api import condition, names, policyspec, release, revision, route, service
from rollout.api.release import TERMINAL_PHASES, Weights
from rollout.reconcilers import base
from rollout.release import actions, engine, hooks, notify, observation
from rollout.store import errors

__all__ = ["reconcile"]

log = base.log


def reconcile(ctx: base.Context, key: base.Key) -> base.Result:
    try:
        rel = base.read(ctx, "Release", key.namespace, key.name)
    except errors.NotFound:
        ctx.measurements.forget(key)
        ctx.hooks.forget(key)
        ctx.notices.forget(key)
        return base.Result()
    assert isinstance(rel, release.Release)
    if rel.status.phase in TERMINAL_PHASES:
        ctx.measurements.forget(key)
        return _deliver(ctx, key, rel)
    obs, pending = _observe(ctx, key, rel)
    decision = engine.decide(rel.spec, rel.status, obs)
    new = base.without_error(decision.status)
    new.observed_generation = rel.metadata.generation
    for action in decision.actions:
        if isinstance(action, actions.Event):
            _event(ctx, rel, action)
    _report(ctx, key, rel, new, obs)
    if _significant(new) != _significant(rel.status):
        base.update_status(ctx, rel.model_copy(update={"status": new}))
    if new.phase in TERMINAL_PHASES:
        ctx.measurements.forget(key)
    return base.Result(_requeue(decision.requeue_after, pending))


def _observe(
    ctx: base.Context, key: base.Key, rel: release.Release
) -> tuple[observation.Observation, tuple[str, ...]]:
    """What the engine decides on, and the metrics whose reading is still in flight."""
    now = ctx.clock.now()
    spec = rel.spec
    rt, _ = _look(ctx, "Route", key.namespace, spec.service)
    ready, failure = _canary(ctx, key.namespace, spec.canary_revision)
    calls = hooks.due(
        spec, rel.status, now, name=key.name, namespace=key.namespace, canary_ready=ready
    )
    answers, calling = ctx.hooks.take(key, calls, key.namespace)
    notices, sending = _notices(ctx, key, rel)
    taken = ctx.measurements.take(
        key,
        [
            (m, _measure_context(rel, key.namespace, now, m.name))
            for m in engine.due_metrics(spec.policy, rel.status, now)
        ],
    )
    obs = observation.Observation(
        now=now,
        canary_ready=ready,
        canary_failure=failure,
        applied=_applied(rt, spec) if isinstance(rt, route.Route) else None,
        applied_rules=route.Rules.of(rt.status) if isinstance(rt, route.Route) else route.Rules(),
        attempt=names.attempt_of(rel.metadata.annotations),
        route_problem=_route_problem(rt) if isinstance(rt, route.Route) else None,
        readings=taken.readings,
        superseded_by=_superseded_by(ctx, rel),
        readiness_wakes=True,
        in_flight=frozenset(taken.pending),
        hooks=answers,
        hooks_in_flight=frozenset(calling),
        notifications=_notifications(ctx, rel),
        notices=notices,
        notices_in_flight=frozenset(sending),
    )
    return obs, (*taken.pending, *calling, *sending)


def _notifications(ctx: base.Context, rel: release.Release) -> tuple[policyspec.Notification, ...]:
    """The policy's notifications, else the controller's default ones."""
    return tuple(rel.spec.policy.notifications) or ctx.notifications


def _notices(
    ctx: base.Context, key: base.Key, rel: release.Release
) -> tuple[tuple[observation.HookAnswer, ...], tuple[str, ...]]:
    """The messages due sent (off the reconcile): their answers in, and those sending."""
    deliveries = notify.due(
        _notifications(ctx, rel), rel.spec, rel.status, name=key.name, namespace=key.namespace
    )
    return ctx.notices.take(key, deliveries, key.namespace)


def _deliver(ctx: base.Context, key: base.Key, rel: release.Release) -> base.Result:
    """A finished release delivers what its webhooks still owe (its outcome to
    post-rollout hooks, its last events to event hooks), then is left alone."""
    now = ctx.clock.now()
    calls = hooks.due(
        rel.spec, rel.status, now, name=key.name, namespace=key.namespace, canary_ready=False
    )
    notifications = _notifications(ctx, rel)
    owed = notify.next_due(notifications, rel.status, now) is not None
    if not calls and not owed:
        ctx.hooks.forget(key)
        ctx.notices.forget(key)
        return base.Result()
    answers, calling = ctx.hooks.take(key, calls, key.namespace)
    notices, sending = _notices(ctx, key, rel)
    obs = observation.Observation(
        now=now,
        hooks=answers,
        hooks_in_flight=frozenset(calling),
        notifications=notifications,
        notices=notices,
        notices_in_flight=frozenset(sending),
    )
    decision = engine.decide(rel.spec, rel.status, obs)
    for action in decision.actions:
        if isinstance(action, actions.Event):
            _event(ctx, rel, action)
    if decision.status != rel.status:
        base.update_status(ctx, rel.model_copy(update={"status": decision.status}))
    return base.Result(_requeue(decision.requeue_after, (*calling, *sending)))


def _report(
    ctx: base.Context,
    key: base.Key,
    rel: release.Release,
    new: release.ReleaseStatus,
    obs: observation.Observation,
) -> None:
    """The controller's metrics hook, and one log line per phase transition."""
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
            service=rel.spec.service,
            phase_from=rel.status.phase.value,
            phase_to=new.phase.value,
            step=new.step_index,
            canary_weight=new.weights.canary if new.weights else None,
            message=new.message,
        )


def _requeue(requeue: timedelta | None, pending: Sequence[str]) -> timedelta | None:
    """The engine's requeue, but never sooner than `engine.POLL` while a reading is in
    flight (the runner's wake comes first)."""
    if pending and (requeue is None or requeue < engine.POLL):
        return engine.POLL
    return requeue


def _event(ctx: base.Context, rel: release.Release, action: actions.Event) -> None:
    try:
        ctx.event(rel, action.reason, action.message, warning=action.warning)
    except Exception as exc:  # events are best effort: never lose a decision to one
        log.warning("release.event_failed", release=rel.metadata.name, error=str(exc)[:200])


def _significant(status: release.ReleaseStatus) -> release.ReleaseStatus:
    return status.model_copy(update={"next_decision_at": None, "message": ""})


def _look(
    ctx: base.Context, kind: str, namespace: str, name: str | None
) -> tuple[object | None, Exception | None]:
    """The object (None when there is none), or why it cannot be read now (logged)."""
    if name is None:
        return None, None
    try:
        return base.read(ctx, kind, namespace, name), None
    except errors.NotFound:
        return None, None
    except Exception as exc:  # unknown, not absent: observing never stops a decision
        log.warning(
            "release.observe_failed", kind=kind, namespace=namespace, name=name, error=str(exc)
        )
        return None, exc


def _canary(ctx: base.Context, namespace: str, name: str) -> tuple[bool, str | None]:
    """Whether the canary is ready, and why it failed (None while it has not, or while
    it cannot be read)."""
    rev, problem = _look(ctx, "Revision", namespace, name)
    if problem is not None:
        return False, None
    if not isinstance(rev, revision.Revision):
        return False, f"revision {name} does not exist"
    # Serving: Ready and Active — a canary scaled to zero after an earlier attempt (a
    # `retry`) is not, until it runs again; its old failure is no news either.
    return rev.status.serving(), rev.status.failure()


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


# The Route's own Ready reasons (`route.traffic_ready`); any other False reason is its
# router's problem: why the split is not in effect.
_ROUTE_OWN = frozenset({"TrafficApplied", "TrafficNotApplied", "TrafficNotServed"})


def _route_problem(rt: route.Route) -> str | None:
    """ "Reason: message" of the Route's Ready condition when its router says why the
    split is not in effect; None otherwise."""
    ready = rt.status.ready_condition()
    if ready is None or ready.status is not condition.ConditionStatus.FALSE:
        return None
    if ready.reason in _ROUTE_OWN:
        return None
    return f"{ready.reason}: {ready.message}" if ready.message else ready.reason


def _measure_context(
    rel: release.Release, namespace: str, now: datetime, metric: str
) -> measurement.MeasureContext:
    """What a reading of `metric` is asked for. Increments start no earlier than the
    release's start or its last `retry` (`engine.fresh_since`): a retried release (of a
    canary whose earlier release served traffic) or step is judged on fresh data only."""
    status = next((m for m in rel.status.analysis if m.metric == metric), None)
    fresh = engine.fresh_since(rel.status)
    until = status.measured_until if status is not None else None
    if fresh is not None and (until is None or until < fresh):
        until = fresh
    return measurement.MeasureContext(
        namespace=namespace,
        service=rel.spec.service,
        stable=rel.spec.stable_revision,
        canary=rel.spec.canary_revision,
        now=now,
        release_started_at=rel.status.started_at,
        measured_until=until,
        slower_than=status.slower_than_seconds if status is not None else None,
        fresh_since=fresh,
    )


def _superseded_by(ctx: base.Context, rel: release.Release) -> str | None:
    svc, problem = _look(ctx, "Service", rel.metadata.namespace or "default", rel.spec.service)
    if problem is not None:
        return None  # not known now; the next look will tell
    if not isinstance(svc, service.Service):
        return "the service was deleted"
    if svc.spec.traffic is not None:
        return "a manual traffic split"
    if svc.spec.policy is None:
        return "an immediate rollout (the policy was removed)"
    latest = svc.status.latest_created_revision
    newer = names.revision_number(latest) > names.revision_number(rel.spec.canary_revision)
    return latest if newer else None
