"""Pure builders and selections of the Service reconciler: revision names and objects,
releases, the steady-state route, the split and request rules a release asks for,
which revisions to collect, and the status.

No I/O, no clock: `now` is passed in. Table-tested in tests/unit/reconcilers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rollout.api import meta, names, release, revision, route, service, split, workload
from rollout.api import rolloutpolicy as policies
from rollout.reconcilers import base

__all__ = [
    "latest_release",
    "make_release",
    "make_revision",
    "make_route",
    "next_number",
    "release_rules",
    "release_traffic",
    "select_garbage",
    "steady_traffic",
    "tagged_traffic",
]


def next_number(svc: service.Service, revisions: Iterable[revision.Revision]) -> int:
    """One past the highest number ever used: existing revisions and the status."""
    used = [names.revision_number(r.metadata.name) for r in revisions]
    return max([names.revision_number(svc.status.latest_created_revision), *used]) + 1


def _labels(svc: service.Service, **extra: str) -> dict[str, str]:
    return {names.SERVICE_LABEL: svc.metadata.name, **extra}


def make_revision(
    svc: service.Service,
    number: int,
    *,
    template: workload.PodTemplate | None = None,
    scaling: workload.Scaling | None = None,
) -> revision.Revision:
    """The next immutable Revision of `svc`: its template and scaling, frozen — or, for
    a `workloadRef`, the template and scaling resolved from the Deployment — (and
    where it was applied from, for the local platform's relative paths)."""
    name = names.revision_name(svc.metadata.name, number)
    template = template or svc.spec.template
    scaling = scaling or svc.spec.scaling
    assert template is not None, "a Service has a template or a resolved workloadRef"
    source = svc.metadata.annotations.get(names.SOURCE_DIR_ANNOTATION)
    return revision.Revision(
        metadata=meta.ObjectMeta(
            name=name,
            namespace=svc.metadata.namespace,
            labels=_labels(svc, **{names.REVISION_LABEL: name}),
            annotations={names.SOURCE_DIR_ANNOTATION: source} if source else {},
            owner_references=[base.owner_reference(svc)],
        ),
        spec=revision.RevisionSpec(
            service=svc.metadata.name,
            service_generation=svc.metadata.generation,
            template=template.model_copy(deep=True),  # a snapshot, not shared
            scaling=scaling.model_copy(deep=True) if scaling else None,
            progress_deadline=svc.spec.progress_deadline,
        ),
    )


def make_release(
    svc: service.Service,
    policy: policies.RolloutPolicy,
    *,
    stable: str,
    canary: str,
    attempt: int,
) -> release.Release:
    """A Release from `stable` to `canary` with a snapshot of the policy."""
    return release.Release(
        metadata=meta.ObjectMeta(
            name=names.release_name(canary, attempt),
            namespace=svc.metadata.namespace,
            labels=_labels(svc),
            annotations={names.ATTEMPT_ANNOTATION: str(attempt)},
            owner_references=[base.owner_reference(svc)],
        ),
        spec=release.ReleaseSpec(
            service=svc.metadata.name,
            stable_revision=stable,
            canary_revision=canary,
            policy_name=policy.metadata.name,
            policy=policy.spec.model_copy(deep=True),  # a snapshot, not shared
        ),
    )


def latest_release(
    releases: Sequence[release.Release], canary: str | None = None
) -> release.Release | None:
    """The most recent release (of `canary`, when given): highest attempt, then created."""
    mine = [r for r in releases if canary is None or r.spec.canary_revision == canary]
    return max(mine, key=_release_order) if mine else None


def _release_order(r: release.Release) -> tuple[int, int]:
    return (
        names.revision_number(r.spec.canary_revision),
        names.attempt_of(r.metadata.annotations),
    )


def steady_traffic(stable: str) -> list[split.TrafficTarget]:
    """All traffic on the stable revision, no tags (no release is running)."""
    return [split.TrafficTarget(revision_name=stable, percent=100)]


def release_traffic(rel: release.Release) -> list[split.TrafficTarget] | None:
    """The split a running release asks for, from its status: None before its first
    weights (the Route keeps what it has); its end state — Promoting, RollingBack —
    as the final untagged split, which the Service keeps once the release ends (one
    data-plane apply at the end); otherwise stable and canary, tagged, at its weights."""
    spec, status = rel.spec, rel.status
    if status.phase is release.Phase.PROMOTING:
        return steady_traffic(spec.canary_revision)
    if status.phase is release.Phase.ROLLING_BACK and spec.stable_revision is not None:
        return steady_traffic(spec.stable_revision)
    if status.weights is None:
        return None
    return tagged_traffic(spec.stable_revision, spec.canary_revision, status.weights.canary)


def release_rules(rel: release.Release) -> route.Rules:
    """The request rules a running release asks the Route to carry, from its status (its
    header routes and mirrors in force, its sticky session); none once it promotes or
    rolls back — everyone goes to one revision, a sticky client of a rolled-back canary
    back to the stable — or has ended."""
    if rel.status.phase in (release.Phase.PROMOTING, release.Phase.ROLLING_BACK):
        return route.Rules()
    if rel.status.phase in release.TERMINAL_PHASES:
        return route.Rules()
    return route.Rules.of(rel.status)


def tagged_traffic(stable: str | None, canary: str, percent: int) -> list[split.TrafficTarget]:
    """A release's split: `percent` on the canary, the rest on the stable, both tagged."""
    traffic = [split.TrafficTarget(revision_name=canary, percent=percent, tag="canary")]
    if stable is not None:
        traffic.insert(
            0, split.TrafficTarget(revision_name=stable, percent=100 - percent, tag="stable")
        )
    return traffic


def make_route(
    svc: service.Service,
    traffic: list[split.TrafficTarget],
    rules: route.Rules | None = None,
) -> route.Route:
    rules = rules or route.Rules()
    return route.Route(
        metadata=meta.ObjectMeta(
            name=svc.metadata.name,
            namespace=svc.metadata.namespace,
            labels=_labels(svc),
            owner_references=[base.owner_reference(svc)],
        ),
        spec=route.RouteSpec(
            service=svc.metadata.name,
            traffic=traffic,
            routing=svc.spec.routing,
            header_routes=list(rules.header_routes),
            mirrors=list(rules.mirrors),
            session_affinity=rules.session_affinity,
        ),
    )


def select_garbage(
    revisions: Sequence[revision.Revision], *, keep: set[str], limit: int
) -> list[str]:
    """Revisions to delete: all but `keep` and the `limit` most recent others."""
    others = sorted(
        (r.metadata.name for r in revisions if r.metadata.name not in keep),
        key=names.revision_number,
        reverse=True,
    )
    return others[limit:]
