"""The Service reconciler: from a declared Service to its Revisions, Route and Releases.

Observe the Service, its revisions, releases and route; then:
1. a template that no revision has yet → the next Revision (`<service>-00001`, …);
2. who owns the traffic:
   - `spec.traffic` (manual split): the Route gets the split as written;
   - a running Release: the Release does (this reconciler leaves the Route alone);
   - no policy, or no stable revision yet (first deploy): the newest Ready revision
     gets 100% at once (Knative's immediate rollout);
   - a policy and a newer revision than the stable: a Release from stable to it
     (again after a `retry` on a finished one); otherwise all traffic on the stable;
3. a Release that Succeeded makes its canary the stable revision;
4. revision garbage collection (keep stable, canary, traffic holders, latest, and
   `revisionHistoryLimit` others), selected by a pure function, then deleted;
5. status (latest created/ready, stable, traffic as applied, current release, URL,
   conditions), written once when it changed.

Called by the controller; builders are in `builders`.
"""

from __future__ import annotations

import contextlib

from rollout.api import condition, names, release, revision, route, service, split
from rollout.api import rolloutpolicy as policies
from rollout.api.release import TERMINAL_PHASES, Phase
from rollout.reconcilers import base
from rollout.reconcilers.service import builders
from rollout.store import errors

__all__ = ["reconcile"]


def reconcile(ctx: base.Context, key: base.Key) -> base.Result:
    try:
        svc = base.read(ctx, "Service", key.namespace, key.name)
    except errors.NotFound:
        return base.Result()  # children go with it (owner references)
    assert isinstance(svc, service.Service)
    selector = {names.SERVICE_LABEL: svc.metadata.name}
    revs = [
        r
        for r in base.read_list(ctx, "Revision", key.namespace, labels=selector)
        if isinstance(r, revision.Revision)
    ]
    rels = [
        r
        for r in base.read_list(ctx, "Release", key.namespace, labels=selector)
        if isinstance(r, release.Release)
    ]
    rt = _get_route(ctx, key)
    now = ctx.clock.now()
    status = svc.status.model_copy()
    status.observed_generation = svc.metadata.generation

    # 1. the revision of the current template
    revs.sort(key=lambda r: names.revision_number(r.metadata.name))
    latest = revs[-1] if revs else None
    if latest is None or latest.spec.template != svc.spec.template:
        new = builders.make_revision(svc, builders.next_number(svc, revs))
        latest = base.create(ctx, new)  # type: ignore[assignment]
        assert isinstance(latest, revision.Revision)
        revs.append(latest)
        ctx.event(svc, "RevisionCreated", f"created revision {latest.metadata.name}")
    status.latest_created_revision = latest.metadata.name
    by_name = {r.metadata.name: r for r in revs}
    ready = [r for r in revs if r.status.ready]
    status.latest_ready_revision = ready[-1].metadata.name if ready else None
    if status.stable_revision not in by_name:
        status.stable_revision = None

    # 3. a release that succeeded promoted its canary
    last = builders.latest_release(rels)
    if (
        last is not None
        and last.status.phase is Phase.SUCCEEDED
        and names.revision_number(last.spec.canary_revision)
        > names.revision_number(status.stable_revision)
        and last.spec.canary_revision in by_name
    ):
        status.stable_revision = last.spec.canary_revision
        ctx.event(svc, "Promoted", f"{last.spec.canary_revision} is the stable revision")

    # 2. who owns the traffic
    active = next((r for r in rels if r.status.phase not in TERMINAL_PHASES), None)
    problem: tuple[str, str] | None = None
    desired: list[split.TrafficTarget] | None = None
    if svc.spec.traffic is not None:
        missing = [t.revision_name for t in svc.spec.traffic if t.revision_name not in by_name]
        if missing:
            problem = (
                "RevisionMissing",
                f"spec.traffic names revisions that do not exist: {', '.join(missing)}",
            )
        else:
            desired = list(svc.spec.traffic)
            status.stable_revision = max(svc.spec.traffic, key=lambda t: t.percent).revision_name
    elif active is not None:
        pass  # the release moves the traffic
    elif svc.spec.policy is None or status.stable_revision is None:
        if latest.status.ready:
            if status.stable_revision != latest.metadata.name:
                ctx.event(svc, "RolledOut", f"{latest.metadata.name} gets all traffic")
            status.stable_revision = latest.metadata.name
        elif ready and status.stable_revision is None:
            status.stable_revision = ready[-1].metadata.name
        if status.stable_revision is not None:
            desired = builders.steady_traffic(status.stable_revision)
    else:
        policy = _get_policy(ctx, key.namespace, svc.spec.policy)
        if latest.metadata.name != status.stable_revision:
            previous = builders.latest_release(rels, latest.metadata.name)
            if policy is None:
                problem = ("PolicyNotFound", f"RolloutPolicy {svc.spec.policy!r} does not exist")
            elif previous is None or _retry_requested(previous):
                attempt = 1 if previous is None else _attempt(previous) + 1
                created = base.create(
                    ctx,
                    builders.make_release(
                        svc,
                        policy,
                        stable=status.stable_revision,
                        canary=latest.metadata.name,
                        attempt=attempt,
                    ),
                )
                assert isinstance(created, release.Release)
                rels.append(created)
                ctx.event(
                    svc,
                    "ReleaseStarted",
                    f"release {created.metadata.name}: {status.stable_revision} →"
                    f" {latest.metadata.name} with policy {policy.metadata.name}",
                )
                active = created
        if active is None:
            desired = builders.steady_traffic(status.stable_revision)

    # the route
    if rt is None:
        rt = base.create(ctx, builders.make_route(svc, desired or []))  # type: ignore[assignment]
    else:
        change: dict[str, object] = {}
        if desired is not None and rt.spec.traffic != desired:
            change["traffic"] = desired
        if rt.spec.routing != svc.spec.routing:
            change["routing"] = svc.spec.routing
        if change:
            rt = base.update(ctx, rt.model_copy(update={"spec": rt.spec.model_copy(update=change)}))  # type: ignore[assignment]
    assert isinstance(rt, route.Route)

    # 4. garbage collection
    keep = {status.stable_revision, latest.metadata.name}
    keep.update(t.revision_name for t in rt.spec.traffic)
    keep.update(t.revision_name for t in rt.status.traffic)
    if active is not None:
        keep.update({active.spec.canary_revision, active.spec.stable_revision})
    for name in builders.select_garbage(
        revs, keep={k for k in keep if k}, limit=svc.spec.revision_history_limit
    ):
        with contextlib.suppress(errors.NotFound):
            ctx.store.delete("Revision", key.namespace, name)
        ctx.event(svc, "RevisionCollected", f"deleted revision {name}")

    # 5. status
    current = active or builders.latest_release(rels)
    status.current_release = current.metadata.name if current is not None else None
    status.traffic = list(rt.status.traffic)
    status.url = rt.status.url
    status.conditions = builders.ready_condition(
        status.conditions,
        revisions_ready=_revisions_ready(latest, problem),
        routes_ready=_routes_ready(rt),
        now=now,
        generation=svc.metadata.generation,
    )
    base.write_status(ctx, svc, status)
    return base.Result()


def _get_route(ctx: base.Context, key: base.Key) -> route.Route | None:
    try:
        rt = base.read(ctx, "Route", key.namespace, key.name)
    except errors.NotFound:
        return None
    assert isinstance(rt, route.Route)
    return rt


def _get_policy(ctx: base.Context, namespace: str, name: str) -> policies.RolloutPolicy | None:
    try:
        policy = base.read(ctx, "RolloutPolicy", namespace, name)
    except errors.NotFound:
        return None
    assert isinstance(policy, policies.RolloutPolicy)
    return policy


def _attempt(rel: release.Release) -> int:
    return names.attempt_of(rel.metadata.annotations)


def _retry_requested(rel: release.Release) -> bool:
    """A finished release that failed and whose `retry` came after it finished."""
    if rel.status.phase not in (Phase.ROLLED_BACK, Phase.ABORTED, Phase.FAILED):
        return False
    retry, finished = rel.spec.retry, rel.status.finished_at
    return retry is not None and (finished is None or retry.requested_at >= finished)


def _revisions_ready(
    latest: revision.Revision, problem: tuple[str, str] | None
) -> tuple[bool, str, str]:
    if problem is not None:
        return (False, *problem)
    ready = condition.get_condition(latest.status.conditions, condition.ConditionType.READY)
    if latest.status.ready:
        return (True, "Ready", "")
    if ready is None:
        return (False, "RevisionPending", f"{latest.metadata.name} is starting")
    return (False, ready.reason, f"{latest.metadata.name}: {ready.message}")


def _routes_ready(rt: route.Route) -> tuple[bool, str, str]:
    applied = condition.get_condition(rt.status.conditions, condition.ConditionType.READY)
    if applied is None:
        return (False, "RoutePending", "the traffic split is not applied yet")
    return (applied.status is condition.ConditionStatus.TRUE, applied.reason, applied.message)
