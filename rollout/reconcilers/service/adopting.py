"""The Service reconciler's side of `spec.workloadRef`: the I/O around the pure
`adoption` decisions, called by `reconcile` before the plan (`prepare`) and after it
(`scale_original`).

`prepare(ctx, observed)`:
- no workloadRef and no finalizer of ours: nothing to do (the usual Service);
- a platform without Workloads (local, memory, sim): the Service is refused with
  `WorkloadRefUnsupported` on its Ready condition, and nothing else is done;
- being deleted (`deletionTimestamp`) with our finalizer: the adopted Deployments are
  scaled back to their recorded replicas and given back once available (or once the
  Service's progressDeadline since the deletion passed), then the finalizer goes
  and the API server deletes the Service (its revisions go with it);
- a workloadRef and no finalizer yet: the finalizer `rollout.dev/restore-workload`
  is added first (nothing is adopted before the Service cannot vanish unseen);
- a Deployment adopted before that the Service no longer names (workloadRef removed
  or renamed) is given back the same way; the finalizer goes with the last one when
  the Service names none;
- the named Deployment is read; not adopted yet: its adoption is recorded (label and
  original replicas); adopted by another Service: refused (`WorkloadInvalid`);
  missing: `WorkloadNotFound`, looked for again every `POLL_MISSING`; its template
  resolved (`adoption.resolve`). When it cannot be used and revisions exist, the
  newest revision's template stands (nothing new is made, traffic stays) and the
  Ready condition says why.

`scale_original(ctx, svc, prepared, status, route)` scales the original as
`adoption.original_target` decides, with an event.

I/O through `ctx.platform.workloads` and the store; called by `reconcile`.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from rollout.api import names, revision, route, service, workload
from rollout.platforms import ports
from rollout.reconcilers import base
from rollout.reconcilers.service import adoption
from rollout.reconcilers.service import plan as planning

__all__ = ["POLL_MISSING", "POLL_RESTORE", "Prepared", "prepare", "scale_original"]

POLL_MISSING = timedelta(seconds=10)  # a named Deployment that is missing (not watched)
POLL_RESTORE = timedelta(seconds=1)  # giving back: until the original is available


@dataclasses.dataclass(frozen=True)
class Prepared:
    """What `prepare` found: a result to return at once (`done`), or what the plan
    needs (`workload`: the resolved template and scaling) and what comes after."""

    done: base.Result | None = None
    workload: tuple[workload.PodTemplate, workload.Scaling | None] | None = None
    original: ports.Workload | None = None  # the adopted Deployment, as read
    problem: tuple[service.Reason, str] | None = None
    requeue: timedelta | None = None


def prepare(ctx: base.Context, observed: planning.Observed) -> Prepared:
    svc = observed.service
    ref = svc.spec.workload_ref
    ours = names.WORKLOAD_FINALIZER in svc.metadata.finalizers
    if ref is None and not ours:
        return Prepared()
    workloads = ctx.platform.workloads
    if workloads is None:
        if ref is None:
            return Prepared()
        message = (
            f"the {ctx.platform.name} platform has no Deployments to adopt: spec.workloadRef"
            " works on Kubernetes; give spec.template here"
        )
        _refuse(ctx, svc, service.Reason.WORKLOAD_REF_UNSUPPORTED, message)
        return Prepared(done=base.Result())
    namespace = svc.metadata.namespace or "default"
    if svc.metadata.deletion_timestamp is not None:
        if not ours:
            return Prepared(done=base.Result())
        return Prepared(done=_give_back(ctx, svc, workloads, namespace, names_only=None))
    if ref is None:  # it stopped naming one: give back what it adopted
        result = _give_back(ctx, svc, workloads, namespace, names_only=None)
        if result.requeue_after is None:  # the finalizer went: read the Service again
            return Prepared(done=base.Result(timedelta(0)))
        return Prepared(requeue=result.requeue_after)
    if not ours:
        finalizers = [*svc.metadata.finalizers, names.WORKLOAD_FINALIZER]
        base.update(ctx, _with_finalizers(svc, finalizers))
        return Prepared(done=base.Result(timedelta(0)))
    adopted = workloads.adopted(namespace, svc.metadata.name)
    requeue = None
    if any(wl.name != ref.name for wl in adopted):  # it names another one now
        result = _give_back(ctx, svc, workloads, namespace, names_only=ref.name)
        requeue = result.requeue_after
    current = next((wl for wl in adopted if wl.name == ref.name), None)
    if current is None:
        current = workloads.read(namespace, ref.name)
    if current is None:
        message = f"Deployment {ref.name} does not exist in namespace {namespace}"
        return _keep(ctx, observed, (service.Reason.WORKLOAD_NOT_FOUND, message), POLL_MISSING)
    if current.adopted_by not in (None, svc.metadata.name):
        message = f"Deployment {ref.name} is adopted by Service {current.adopted_by} already"
        return _keep(ctx, observed, (service.Reason.WORKLOAD_INVALID, message), None)
    if current.adopted_by is None:
        workloads.adopt(
            namespace, ref.name, service=svc.metadata.name, original_replicas=current.replicas
        )
        current = dataclasses.replace(
            current, adopted_by=svc.metadata.name, original_replicas=current.replicas
        )
        ctx.event(
            svc,
            "WorkloadAdopted",
            f"adopted Deployment {ref.name} ({current.replicas} replicas, restored on delete)",
        )
    resolved = adoption.resolve(current, svc.spec.scaling)
    if resolved.template is None:
        kept = _keep(ctx, observed, (service.Reason.WORKLOAD_INVALID, resolved.problem), None)
        return dataclasses.replace(kept, original=current)
    return Prepared(
        workload=(resolved.template, resolved.scaling), original=current, requeue=requeue
    )


def _keep(
    ctx: base.Context,
    observed: planning.Observed,
    problem: tuple[service.Reason, str],
    requeue: timedelta | None,
) -> Prepared:
    """The Deployment cannot be used: the newest revision stands, if there is one."""
    revs = sorted(observed.revisions, key=lambda r: names.revision_number(r.metadata.name))
    if not revs:
        _refuse(ctx, observed.service, *problem)
        return Prepared(done=base.Result(requeue))
    latest = revs[-1].spec
    return Prepared(workload=(latest.template, latest.scaling), problem=problem, requeue=requeue)


def _refuse(ctx: base.Context, svc: service.Service, reason: service.Reason, message: str) -> None:
    status = svc.status.model_copy()
    status.observed_generation = svc.metadata.generation
    status.mark_workload_problem(
        reason, message, now=ctx.clock.now(), generation=svc.metadata.generation
    )
    base.write_status(ctx, svc, status)


def _with_finalizers(svc: service.Service, finalizers: list[str]) -> service.Service:
    meta = svc.metadata.model_copy(update={"finalizers": finalizers})
    return svc.model_copy(update={"metadata": meta})


def _give_back(
    ctx: base.Context,
    svc: service.Service,
    workloads: ports.Workloads,
    namespace: str,
    *,
    names_only: str | None,
) -> base.Result:
    """Scale back and give back what `svc` adopted (all but `names_only`, the one it
    still names); without one still named, drop the finalizer once all are back."""
    adopted = [
        wl for wl in workloads.adopted(namespace, svc.metadata.name) if wl.name != names_only
    ]
    since = svc.metadata.deletion_timestamp
    waited = since is not None and ctx.clock.now() - since >= svc.spec.progress_deadline
    steps = adoption.restore_steps(adopted, waited_enough=waited)
    for name, replicas in steps.scale:
        workloads.scale(namespace, name, replicas)
        ctx.event(svc, "WorkloadRestoring", f"scaling Deployment {name} back to {replicas}")
    for name in steps.release:
        workloads.release(namespace, name)
        ctx.event(svc, "WorkloadRestored", f"gave Deployment {name} back")
    if not steps.done:
        return base.Result(POLL_RESTORE)
    if names_only is None:
        kept = [f for f in svc.metadata.finalizers if f != names.WORKLOAD_FINALIZER]
        base.update(ctx, _with_finalizers(svc, kept))
    return base.Result()


def scale_original(
    ctx: base.Context,
    svc: service.Service,
    prepared: Prepared,
    status: service.ServiceStatus,
    rt: route.Route | None,
    revisions: list[revision.Revision],
) -> None:
    """Scale the adopted Deployment as its `scaleDown` says, now."""
    ref, original, workloads = svc.spec.workload_ref, prepared.original, ctx.platform.workloads
    if ref is None or original is None or workloads is None:
        return
    newest = next((r for r in revisions if r.metadata.name == status.latest_created_revision), None)
    target = adoption.original_target(
        ref.scale_down,
        adoption.original_replicas(original),
        served=adoption.serving(status.stable_revision, rt),
        ready_replicas=newest.status.ready_replicas if newest is not None else 0,
    )
    if target is None or target == original.replicas:
        return
    workloads.scale(svc.metadata.namespace or "default", original.name, target)
    ctx.event(
        svc,
        "WorkloadScaled",
        f"scaled Deployment {original.name} to {target} (scaleDown {ref.scale_down})",
    )
