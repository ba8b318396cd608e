"""The Service reconciler: observe → plan → apply → persist.

- observe: the Service, its revisions and releases (by the `SERVICE_LABEL`), its
  Route and the policy it names — read once, into `plan.Observed`; with
  `spec.workloadRef`, the adopted Deployment's resolved template too (`adopting`:
  its finalizer, its deletion, a platform that cannot adopt);
- plan: `plan.plan` (pure: what to create, the Route's spec, what to collect, the
  status and the events);
- apply: create the Route or write its spec first (this is the only writer of
  `Route.spec`: a release's weights reach the data plane through here, and an abort
  must not wait for a revision that cannot be created), then the revision, the
  release, delete the garbage, and write the revisions' routing marks (their
  metadata: the Revision reconciler, woken by the change, scales them);
- persist: the status, written once when it changed; then the events; then the
  adopted Deployment scaled as its `scaleDown` says (`adopting.scale_original`).

Called by the controller.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import TypeVar

from rollout.api import names, release, revision, route, service
from rollout.api import rolloutpolicy as policies
from rollout.reconcilers import base
from rollout.reconcilers.service import adopting
from rollout.reconcilers.service import plan as planning
from rollout.store import errors

__all__ = ["reconcile"]

_T = TypeVar("_T")


def reconcile(ctx: base.Context, key: base.Key) -> base.Result:
    observed = _observe(ctx, key)
    if observed is None:
        return base.Result()  # deleted: its children go with it (owner references)
    adopted = adopting.prepare(ctx, observed)  # spec.workloadRef (`adopting`)
    if adopted.done is not None:
        return adopted.done
    if adopted.workload is not None:
        observed = dataclasses.replace(observed, workload=adopted.workload)
    decided = planning.plan(observed, ctx.clock.now())
    svc = observed.service
    if adopted.problem is not None:
        decided.status.mark_workload_problem(
            *adopted.problem, now=ctx.clock.now(), generation=svc.metadata.generation
        )
    # The Route first: the split never names what is created below, and a release's
    # abort must reach the data plane even while creating a revision keeps failing.
    if decided.new_route is not None:
        base.create(ctx, decided.new_route)
    elif decided.route_spec is not None:
        assert observed.route is not None
        base.update(ctx, observed.route.model_copy(update={"spec": decided.route_spec}))
    if decided.new_revision is not None:
        base.create(ctx, decided.new_revision)
    if decided.new_release is not None:
        base.create(ctx, decided.new_release)
    for name in decided.garbage:
        with contextlib.suppress(errors.NotFound):
            ctx.store.delete("Revision", key.namespace, name)
    revs = {r.metadata.name: r for r in observed.revisions}
    for name, metadata in decided.marks.items():
        with contextlib.suppress(errors.NotFound):
            base.update(ctx, revs[name].model_copy(update={"metadata": metadata}))
    for reason, message in decided.events:
        ctx.event(svc, reason, message)
    base.write_status(ctx, svc, decided.status)
    adopting.scale_original(ctx, svc, adopted, decided.status, observed.route, observed.revisions)
    return base.Result(adopted.requeue)


def _observe(ctx: base.Context, key: base.Key) -> planning.Observed | None:
    try:
        svc = base.read(ctx, "Service", key.namespace, key.name)
    except errors.NotFound:
        return None
    assert isinstance(svc, service.Service)
    selector = {names.SERVICE_LABEL: svc.metadata.name}
    revs = base.read_list(ctx, "Revision", key.namespace, labels=selector)
    rels = base.read_list(ctx, "Release", key.namespace, labels=selector)
    return planning.Observed(
        service=svc,
        revisions=[r for r in revs if isinstance(r, revision.Revision)],
        releases=[r for r in rels if isinstance(r, release.Release)],
        route=_get(ctx, "Route", key.namespace, key.name, route.Route),
        policy=(
            _get(ctx, "RolloutPolicy", key.namespace, svc.spec.policy, policies.RolloutPolicy)
            if svc.spec.policy is not None
            else None
        ),
    )


def _get(ctx: base.Context, kind: str, namespace: str, name: str, cls: type[_T]) -> _T | None:
    try:
        obj = base.read(ctx, kind, namespace, name)
    except errors.NotFound:
        return None
    assert isinstance(obj, cls)
    return obj
