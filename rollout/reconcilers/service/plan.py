"""What the Service reconciler decides, as a pure function of what it observed.

`plan(observed, now) -> Plan`, Knative style: from the Service, its revisions and
releases, its Route and the policy it names, in this order:
1. a template (or scaling) that no revision has yet → the next Revision (`<service>-00001`, …);
   with `spec.workloadRef`, the template and scaling resolved from the Deployment
   (`Observed.workload`, read by `reconcile`, resolved by `adoption.resolve`);
2. a Release that Succeeded makes its canary the stable revision;
3. the traffic the Route must carry — the Service reconciler is the one writer of
   `Route.spec` (grep `route_spec`); a release decides its weights in its own status
   and this function turns them into the split:
   - `spec.traffic` (manual split): the split as written;
   - a running Release: `builders.release_traffic` of its status (its end state —
     all on the canary when Promoting, all on the stable when RollingBack — is the
     final, untagged split, so the end of a release is one data-plane apply);
   - no policy, or no stable revision yet (first deploy): the newest Ready revision
     gets 100% at once (Knative's immediate rollout);
   - a policy named that does not exist: the Ready condition says `PolicyNotFound`
     from the first reconcile on (while no release runs), so the user learns it
     before a change stalls on it;
   - a policy and a newer revision than the stable: a Release from stable to it
     (again after a `retry` of a finished one); otherwise all traffic on the stable;
   a running release's request rules (`builders.release_rules`: its header routes,
   mirrors and sticky session, none once it promotes, rolls back or ends) go to the
   Route's spec beside the split; with no running release, or a manual split, the
   Route carries none;
   with `canaryScale` (matchWeight), a running release's canary weight reaches the
   Route only once the canary's ready replicas can serve it
   (`scaling.routable_weight`): until then the Route keeps the weight it has;
4. revision garbage collection (keep stable, canary, traffic holders, latest, and
   `revisionHistoryLimit` others);
5. each remaining revision's routing marks (`scaling`: active or reserve, since when,
   the scale-down delay in force, a matched canary's replica count) — metadata the
   Revision reconciler turns into replicas;
6. the status (latest created/ready, stable, traffic as applied — refreshed only
   while no release runs, so that a release step costs the Service no write —,
   current release, URL, the Ready condition), and the events to record.

A Service being deleted (`metadata.deletionTimestamp`: a foreground deletion, or a
finalizer of someone else's holding it) gets nothing: no revision, release or Route
is created or changed, no revision collected or marked — its children are the
garbage collector's now, and one made again would outlive it or hold it up. Only
its `observedGeneration` moves (the deletion bumps the generation); the workloadRef
clean-up (`adopting`) happens before the plan.

No I/O, no clock. Table-tested in tests/unit/reconcilers/test_service_plan.py; applied
by `reconcile`.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from rollout.api import meta, names, release, revision, route, service, split, workload
from rollout.api import rolloutpolicy as policies
from rollout.api.release import TERMINAL_PHASES, Phase
from rollout.api.revision import RoutingState
from rollout.reconcilers import scaling
from rollout.reconcilers.service import builders

__all__ = ["Observed", "Plan", "plan"]


@dataclasses.dataclass(frozen=True)
class Observed:
    """What the Service reconciler read: nothing here is changed by `plan`."""

    service: service.Service
    revisions: list[revision.Revision]
    releases: list[release.Release]
    route: route.Route | None
    policy: policies.RolloutPolicy | None  # the policy named, None when none or missing
    # spec.workloadRef: the template and scaling resolved from the Deployment
    # (`adoption.resolve`); None: the Service's own spec.template and spec.scaling
    workload: tuple[workload.PodTemplate, workload.Scaling | None] | None = None


@dataclasses.dataclass
class Plan:
    """What to do, in the order `reconcile` does it."""

    status: service.ServiceStatus
    new_revision: revision.Revision | None = None
    new_release: release.Release | None = None
    new_route: route.Route | None = None  # there is no Route yet: create this one
    route_spec: route.RouteSpec | None = None  # the Route's spec has to become this
    garbage: list[str] = dataclasses.field(default_factory=list)  # revisions to delete
    # revision name → the metadata it must have (its routing marks, `scaling.marks`)
    marks: dict[str, meta.ObjectMeta] = dataclasses.field(default_factory=dict)
    events: list[tuple[str, str]] = dataclasses.field(default_factory=list)


def plan(observed: Observed, now: datetime) -> Plan:
    svc = observed.service
    status = svc.status.model_copy()
    status.observed_generation = svc.metadata.generation
    out = Plan(status=status)
    if svc.metadata.deletion_timestamp is not None:
        return out  # being deleted: its children are left to the garbage collector
    revs = sorted(observed.revisions, key=lambda r: names.revision_number(r.metadata.name))
    latest = _latest_revision(svc, revs, out, observed.workload)
    by_name = {r.metadata.name: r for r in revs}
    ready = [r for r in revs if r.status.ready]
    status.latest_created_revision = latest.metadata.name
    status.latest_ready_revision = ready[-1].metadata.name if ready else None
    if status.stable_revision not in by_name:
        status.stable_revision = None
    rels = list(observed.releases)
    _promoted(rels, by_name, out)
    active = next((r for r in rels if r.status.phase not in TERMINAL_PHASES), None)
    desired, active, problem = _traffic(observed, latest, ready, by_name, rels, active, out)
    manual = svc.spec.traffic is not None
    rules = builders.release_rules(active) if active is not None and not manual else None
    rt = _route(observed, desired, rules or route.Rules(), out)
    out.garbage = _garbage(svc, status.stable_revision, revs, rt, active)
    out.events.extend(("RevisionCollected", f"deleted revision {n}") for n in out.garbage)
    _mark(observed, revs, rt, rels, active, out, now)
    current = active or builders.latest_release(rels)
    status.current_release = current.metadata.name if current is not None else None
    if active is None:
        status.traffic = list(rt.status.traffic)
    status.url = rt.status.url
    status.propagate(latest, rt, problem=problem, now=now, generation=svc.metadata.generation)
    return out


def _latest_revision(
    svc: service.Service,
    revs: list[revision.Revision],
    out: Plan,
    resolved: tuple[workload.PodTemplate, workload.Scaling | None] | None,
) -> revision.Revision:
    """The revision of the current template and scaling (the Service's, or those
    resolved from its workloadRef): the newest, or a new one (appended)."""
    template, scaling = resolved or (svc.spec.template, svc.spec.scaling)
    latest = revs[-1] if revs else None
    if latest is not None and latest.spec.template == template and latest.spec.scaling == scaling:
        return latest
    new = builders.make_revision(
        svc, builders.next_number(svc, revs), template=template, scaling=scaling
    )
    out.new_revision = new
    revs.append(new)
    out.events.append(("RevisionCreated", f"created revision {new.metadata.name}"))
    return new


def _promoted(
    rels: list[release.Release], by_name: dict[str, revision.Revision], out: Plan
) -> None:
    """A release that succeeded made its canary the stable revision."""
    status, last = out.status, builders.latest_release(rels)
    if (
        last is not None
        and last.status.phase is Phase.SUCCEEDED
        and names.revision_number(last.spec.canary_revision)
        > names.revision_number(status.stable_revision)
        and last.spec.canary_revision in by_name
    ):
        status.stable_revision = last.spec.canary_revision
        out.events.append(("Promoted", f"{last.spec.canary_revision} is the stable revision"))


def _traffic(
    observed: Observed,
    latest: revision.Revision,
    ready: list[revision.Revision],
    by_name: dict[str, revision.Revision],
    rels: list[release.Release],
    active: release.Release | None,
    out: Plan,
) -> tuple[
    list[split.TrafficTarget] | None, release.Release | None, tuple[service.Reason, str] | None
]:
    """The split the Route must carry (None: leave it), the running release (perhaps
    one started now), and a problem for the Ready condition."""
    svc, status = observed.service, out.status
    if svc.spec.traffic is not None:
        missing = [t.revision_name for t in svc.spec.traffic if t.revision_name not in by_name]
        if missing:
            listed = ", ".join(missing)
            message = f"spec.traffic names revisions that do not exist: {listed}"
            return None, active, (service.Reason.REVISION_MISSING, message)
        status.stable_revision = max(svc.spec.traffic, key=lambda t: t.percent).revision_name
        return list(svc.spec.traffic), active, None
    if active is not None:
        return _release_traffic(observed, active, by_name), active, None
    no_policy = _policy_missing(observed, "the next revision will wait for it")
    if svc.spec.policy is None or status.stable_revision is None:
        serving = [r for r in ready if r.status.serving()]
        if latest.status.serving():
            if status.stable_revision != latest.metadata.name:
                out.events.append(("RolledOut", f"{latest.metadata.name} gets all traffic"))
            status.stable_revision = latest.metadata.name
        elif serving and status.stable_revision is None:
            status.stable_revision = serving[-1].metadata.name
        stable = status.stable_revision
        return (builders.steady_traffic(stable) if stable is not None else None), None, no_policy
    stable = status.stable_revision
    if latest.metadata.name == stable:
        return builders.steady_traffic(stable), None, no_policy
    policy = observed.policy
    if policy is None:
        problem = _policy_missing(observed, f"{latest.metadata.name} waits for it")
        return builders.steady_traffic(stable), None, problem
    previous = builders.latest_release(rels, latest.metadata.name)
    if previous is not None and not _retry_requested(previous):
        return builders.steady_traffic(stable), None, None
    attempt = 1 if previous is None else names.attempt_of(previous.metadata.annotations) + 1
    created = builders.make_release(
        svc, policy, stable=stable, canary=latest.metadata.name, attempt=attempt
    )
    out.new_release = created
    rels.append(created)
    out.events.append(
        (
            "ReleaseStarted",
            f"release {created.metadata.name}: {stable} → {latest.metadata.name}"
            f" with policy {policy.metadata.name}",
        )
    )
    return builders.release_traffic(created), created, None


def _policy_missing(observed: Observed, consequence: str) -> tuple[service.Reason, str] | None:
    """PolicyNotFound when the Service names a policy that does not exist — reported
    from its first reconcile on, not only once a new revision waits for it."""
    name = observed.service.spec.policy
    if name is None or observed.policy is not None:
        return None
    return service.Reason.POLICY_NOT_FOUND, f"RolloutPolicy {name!r} does not exist: {consequence}"


def _release_traffic(
    observed: Observed, rel: release.Release, by_name: dict[str, revision.Revision]
) -> list[split.TrafficTarget] | None:
    """The split a running release asks for — with `canaryScale`, the canary's part
    only as far as its ready replicas can serve it (`scaling.routable_weight`)."""
    wanted = builders.release_traffic(rel)
    scale = rel.spec.policy.canary_scale
    if wanted is None or scale is None or rel.spec.stable_revision is None:
        return wanted
    name = rel.spec.canary_revision
    weight = sum(t.percent for t in wanted if t.revision_name == name)
    canary = by_name.get(name)
    ready = canary.status.ready_replicas if canary is not None and canary.status.serving() else 0
    room = scaling.capacity(ready, _stable_size(rel, by_name))
    rt = observed.route
    current = sum(t.percent for t in rt.spec.traffic if t.revision_name == name) if rt else 0
    routable = scaling.routable_weight(weight, room, current)
    if routable == weight:
        return wanted
    return builders.tagged_traffic(rel.spec.stable_revision, name, routable)


def _stable_size(rel: release.Release, by_name: dict[str, revision.Revision]) -> int:
    """S of a release: its stable revision's size (its canary's own, without one)."""
    stable = by_name.get(rel.spec.stable_revision or "")
    if stable is not None:
        return scaling.stable_size(stable)
    canary = by_name.get(rel.spec.canary_revision)
    return revision.scaling_of(canary).min_replicas if canary is not None else 1


def _canary_count(
    rel: release.Release | None, by_name: dict[str, revision.Revision]
) -> tuple[str, int] | None:
    """The running release's canary and its replica count under `canaryScale`, for the
    weight the release asks for (so it is scaled before the weight moves)."""
    if rel is None or rel.spec.policy.canary_scale is None:
        return None
    weight = rel.status.weights.canary if rel.status.weights is not None else 0
    size = _stable_size(rel, by_name)
    count = scaling.canary_replicas(weight, size, rel.spec.policy.canary_scale)
    return rel.spec.canary_revision, count


def _mark(
    observed: Observed,
    revs: list[revision.Revision],
    rt: route.Route,
    rels: list[release.Release],
    active: release.Release | None,
    out: Plan,
    now: datetime,
) -> None:
    """Each revision's routing marks (`scaling.marks`): active or reserve, and the
    running release's canary's replica count under `canaryScale`. A new revision is
    created with its marks; the others are updated when theirs differ."""
    svc = observed.service
    latest = revs[-1]
    last = builders.latest_release(rels, latest.metadata.name)
    to_roll_out = (
        svc.spec.policy is None or last is None or last.status.phase not in TERMINAL_PHASES
    )
    keep = scaling.active_revisions(
        stable=out.status.stable_revision,
        routed=[*rt.spec.traffic, *rt.status.traffic],
        running=(active.spec.stable_revision, active.spec.canary_revision) if active else (),
        pending=latest.metadata.name if to_roll_out else None,
    )
    by_name = {r.metadata.name: r for r in revs}
    canary = _canary_count(active, by_name)
    delay = scaling.scale_down_delay(svc, observed.policy)
    garbage = set(out.garbage)
    for rev in revs:
        name = rev.metadata.name
        if name in garbage:
            continue
        state = RoutingState.ACTIVE if name in keep else RoutingState.RESERVE
        count = canary[1] if canary is not None and canary[0] == name else None
        new = scaling.marks(rev, state, now=now, delay=delay, canary=count)
        if new is None:
            continue
        if rev is out.new_revision:
            out.new_revision = rev.model_copy(update={"metadata": new})
        else:
            out.marks[name] = new


def _route(
    observed: Observed,
    desired: list[split.TrafficTarget] | None,
    rules: route.Rules,
    out: Plan,
) -> route.Route:
    """The Route as it will be: created, or with the spec it must have."""
    svc, rt = observed.service, observed.route
    if rt is None:
        out.new_route = builders.make_route(svc, desired or [], rules)
        return out.new_route
    change: dict[str, object] = {}
    if desired is not None and rt.spec.traffic != desired:
        change["traffic"] = desired
    if route.Rules.of(rt.spec) != rules:
        change["header_routes"] = list(rules.header_routes)
        change["mirrors"] = list(rules.mirrors)
        change["session_affinity"] = rules.session_affinity
    if rt.spec.routing != svc.spec.routing:
        change["routing"] = svc.spec.routing
    if not change:
        return rt
    out.route_spec = rt.spec.model_copy(update=change)
    return rt.model_copy(update={"spec": out.route_spec})


def _garbage(
    svc: service.Service,
    stable: str | None,
    revs: list[revision.Revision],
    rt: route.Route,
    active: release.Release | None,
) -> list[str]:
    keep = {stable, revs[-1].metadata.name}
    keep.update(t.revision_name for t in rt.spec.traffic)
    keep.update(t.revision_name for t in rt.status.traffic)
    if active is not None:
        keep.update({active.spec.canary_revision, active.spec.stable_revision})
    return builders.select_garbage(
        revs, keep={k for k in keep if k}, limit=svc.spec.revision_history_limit
    )


def _retry_requested(rel: release.Release) -> bool:
    """A finished release that failed and whose `retry` came after it finished."""
    if rel.status.phase not in (Phase.ROLLED_BACK, Phase.ABORTED, Phase.FAILED):
        return False
    retry, finished = rel.spec.retry, rel.status.finished_at
    return retry is not None and (finished is None or retry.requested_at >= finished)
