"""What a Revision runs as on Kubernetes, and what the Deployment says about it:

    Revision → apps/v1 Deployment + v1 Service (+ autoscaling/v2 HorizontalPodAutoscaler)
    stored Deployment → ports.RuntimeState

Objects are plain dicts in the JSON the API server expects (camelCase), named after
the revision, owned by it (`ownerReferences`) and labelled with the revision's
template labels, then `rollout.dev/service`, `rollout.dev/revision` and
`app.kubernetes.io/managed-by: rollout` (ours last: a template cannot override them).

Decisions:
- The pod template is the Service's `template` as written (every PodSpec field kept);
  the controller adds only: its labels (above) and `PORT` on the first container.
- The serving port is the first container's first `containerPort`, else 8080
  (declared on the container as `http` when it declares none), and `PORT` is set to
  it unless the container sets `PORT` — as on the local platform, where the first
  container serves.
- An HPA on CPU utilization exists only when `scaling.maxReplicas` > `minReplicas`.
- Replicas are what the Revision reconciler asks for (`rollout.reconcilers.scaling`):
  0 for a retired revision after its scaleDownDelay (the Deployment at `replicas: 0`:
  an HPA does not scale a target at zero, so it is kept as it is), a matched canary's
  count, else `minReplicas`. A revision with an HPA gets its count through the HPA's
  `minReplicas` (and `maxReplicas` when the count is above it), and its Deployment
  `replicas: minReplicas` (or 0): the autoscaler owns the replica count between the
  bounds — a Deployment patched down from what the HPA made it would drop capacity.
- A Deployment at `replicas: 0` reports `ScaledToZero` (never ready, never failed).
- Only a Deployment status that has observed the current generation counts.
- A revision fails when its Deployment does (`ProgressDeadlineExceeded`) and when Pod
  Security admission refuses its pods (`ReplicaFailure` FailedCreate: its template
  will not change); other refusals (a quota that may free up) wait for the deadline.
  The cause ends the message, so that it reaches the release: the ReplicaFailure
  message, else the replicas available and the `kubectl describe pods` that shows
  why (an image that cannot be pulled, a failing probe). Pods are not read: that
  would need `list` on every pod of the served namespaces (their env included),
  a grant the controller does not have.

No I/O, no client import, no clock: `now` is passed in. Called by the runtime adapter
(`runtime.py`); table-tested in tests/unit/kubernetes/test_builders.py.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime

from rollout.api import names, podspec, revision, workload
from rollout.platforms import ports
from rollout.platforms.kubernetes import owned

__all__ = [
    "DEFAULT_CPU_TARGET",
    "deployment_state",
    "make_deployment",
    "make_hpa",
    "make_revision_service",
]

Obj = owned.Obj

DEFAULT_CPU_TARGET = 80
POD_SECURITY = "violates PodSecurity"  # in the message of Pod Security admission's refusal


def _labels(rev: revision.Revision) -> dict[str, str]:
    """Template labels first, ours last so that a template cannot override them."""
    meta = rev.spec.template.metadata
    return {
        **(meta.labels if meta else {}),
        names.SERVICE_LABEL: rev.spec.service,
        names.REVISION_LABEL: rev.metadata.name,
        names.MANAGED_BY_LABEL: names.MANAGED_BY,
    }


# ---- Deployment -------------------------------------------------------------------


def make_deployment(rev: revision.Revision, *, replicas: int | None = None) -> Obj:
    """The Deployment that runs a revision's pods: `replicas` of them (default
    `scaling.minReplicas`; with an HPA, `minReplicas` or 0 — the HPA holds the count).

    Raises ValueError when a container has no image (valid locally, not here)."""
    template = rev.spec.template
    pod: Obj = copy.deepcopy(template.spec)
    missing = [str(c.get("name")) for _, c in podspec.all_containers(pod) if not c.get("image")]
    if missing:
        raise ValueError(f"container(s) {', '.join(missing)} have no image: Kubernetes needs one")
    labels = _labels(rev)
    pod_meta: Obj = {"labels": labels}
    if template.metadata and template.metadata.annotations:
        pod_meta["annotations"] = dict(template.metadata.annotations)
    _serve(pod["containers"][0], podspec.serving_port(template.spec))
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": owned.metadata(rev.metadata.name, rev, labels),
        "spec": {
            "replicas": _deployment_replicas(rev, replicas),
            "selector": {"matchLabels": {names.REVISION_LABEL: rev.metadata.name}},
            "progressDeadlineSeconds": max(1, int(rev.spec.progress_deadline.total_seconds())),
            "template": {"metadata": pod_meta, "spec": pod},
        },
    }


def _deployment_replicas(rev: revision.Revision, replicas: int | None) -> int:
    scaling = revision.scaling_of(rev)
    if replicas is None or (replicas > 0 and _autoscaled(scaling)):
        return scaling.min_replicas
    return replicas


def _autoscaled(scaling: workload.Scaling) -> bool:
    return scaling.max_replicas is not None and scaling.max_replicas > scaling.min_replicas


def _serve(container: Obj, port: int) -> None:
    """`PORT` on the serving container (unless set), and its port declared."""
    env = container.setdefault("env", [])
    if all(e.get("name") != "PORT" for e in env):
        env.append({"name": "PORT", "value": str(port)})
    if not container.get("ports"):
        container["ports"] = [{"containerPort": port, "protocol": "TCP", "name": "http"}]


# ---- revision Service and HPA -------------------------------------------------------


def make_revision_service(rev: revision.Revision) -> Obj:
    """The v1 Service of one revision: port 80 → its serving port, on its pods only."""
    return owned.service(
        rev.metadata.name,
        rev,
        _labels(rev),
        selector={names.REVISION_LABEL: rev.metadata.name},
        target_port=podspec.serving_port(rev.spec.template.spec),
    )


def make_hpa(rev: revision.Revision, *, replicas: int | None = None) -> Obj | None:
    """An HPA on CPU utilization when `scaling.maxReplicas` > `minReplicas`, else None.

    Its `minReplicas` is the count asked for when that is more (a canary sized to its
    weight; `maxReplicas` follows when it is above it); at 0 it keeps its bounds (the
    HPA leaves a Deployment at zero alone). The target defaults to 80% (0, meaningless
    for an HPA, counts as unset); it needs CPU requests on the containers to measure
    against."""
    scaling = revision.scaling_of(rev)
    if scaling.max_replicas is None or not _autoscaled(scaling):
        return None
    low = max(scaling.min_replicas, replicas or 0)
    high = max(scaling.max_replicas, low)
    target = scaling.target_cpu_utilization_percentage or DEFAULT_CPU_TARGET
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": owned.metadata(rev.metadata.name, rev, _labels(rev)),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": rev.metadata.name,
            },
            "minReplicas": low,
            "maxReplicas": high,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": target},
                    },
                }
            ],
        },
    }


# ---- read-back: the Deployment's status -----------------------------------------------


def deployment_state(
    deployment: Obj, now: datetime, *, cluster_domain: str = names.CLUSTER_DOMAIN
) -> ports.RuntimeState:
    """What a stored Deployment says about its revision.

    Only a status that has observed the current generation counts. Reasons:
    `ScaledToZero` (spec.replicas is 0; the counts say what still stops), `Ready`
    (available and updated replicas reach spec.replicas), `ProgressDeadlineExceeded`
    (the Deployment controller gave up: failed; its message, then the ReplicaFailure
    message if any, else how many replicas are available and where to look for why —
    `kubectl describe pods …`, also said while starting once half the deadline passed
    without progress, so that the revision's own deadline carries it),
    `ReplicaFailure` (pods cannot be created: `FailedCreate: <message>`; failed when
    Pod Security admission refuses them — the template will not change — else, e.g.
    a quota that may free up, waiting for the deadline), `Unavailable` (it had
    completed, then lost pods), else `Starting`. `now` only words the message of a
    Deployment that no Deployment controller observed within its progress deadline."""
    meta = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    name = str(meta.get("name", ""))
    namespace = str(meta.get("namespace") or "default")
    host = owned.service_host(name, namespace, cluster_domain)
    want = owned.count(spec.get("replicas"), 1)
    available = owned.count(status.get("availableReplicas"))
    updated = owned.count(status.get("updatedReplicas"))
    counts: Obj = {
        "replicas": owned.count(status.get("replicas")),
        "ready_replicas": owned.count(status.get("readyReplicas")),
        "url": f"http://{host}",
    }
    if spec.get("replicas") == 0:
        left = owned.count(status.get("replicas"))
        message = f"scaled to zero ({left} pods stopping)" if left else "scaled to zero"
        return ports.RuntimeState(False, "ScaledToZero", message, **counts)
    generation, observed = meta.get("generation"), status.get("observedGeneration")
    if not isinstance(observed, int) or (isinstance(generation, int) and observed < generation):
        return ports.RuntimeState(False, "Starting", _unobserved(deployment, now), **counts)
    if available >= want and updated >= want:
        return ports.RuntimeState(True, "Ready", "", **counts)
    conditions = {c.get("type"): c for c in status.get("conditions") or [] if isinstance(c, dict)}
    progressing = conditions.get("Progressing") or {}
    failure = conditions.get("ReplicaFailure") or {}
    refused = ""
    if failure.get("status") == "True":
        refused = str(failure.get("message") or "pods cannot be created")
        if failure.get("reason"):
            refused = f"{failure['reason']}: {refused}"
    if progressing.get("status") == "False" and (
        progressing.get("reason") == "ProgressDeadlineExceeded"
    ):
        message = str(progressing.get("message") or f"{name} did not progress within its deadline")
        cause = refused or f"{available}/{want} replicas available {_why(namespace, name)}"
        message = f"{message.rstrip('.')}: {cause}"
        return ports.RuntimeState(False, "ProgressDeadlineExceeded", message, failed=True, **counts)
    if refused:
        forbidden = POD_SECURITY in refused
        return ports.RuntimeState(False, "ReplicaFailure", refused, failed=forbidden, **counts)
    message = f"{available}/{want} replicas available"
    if updated < want:
        message += f", {updated}/{want} updated"
    if _stalled(deployment, progressing, now):
        message += f" {_why(namespace, name)}"
    if progressing.get("reason") == "NewReplicaSetAvailable":
        detail = (conditions.get("Available") or {}).get("message")
        return ports.RuntimeState(
            False, "Unavailable", f"{message}: {detail}" if detail else message, **counts
        )
    return ports.RuntimeState(False, "Starting", message, **counts)


def _why(namespace: str, name: str) -> str:
    """Where the reason pods are not ready is (we do not read pods: no grant)."""
    return f"(why: kubectl describe pods -n {namespace} -l {names.REVISION_LABEL}={name})"


def _stalled(deployment: Obj, progressing: Obj, now: datetime) -> bool:
    """No progress for half the progress deadline (since the Progressing condition's
    last update, else the creation): by the revision's own deadline, say where to look."""
    since = _timestamp(progressing.get("lastUpdateTime")) or _timestamp(
        (deployment.get("metadata") or {}).get("creationTimestamp")
    )
    deadline = owned.count((deployment.get("spec") or {}).get("progressDeadlineSeconds"), 600)
    return since is not None and (now - since).total_seconds() >= deadline / 2


def _unobserved(deployment: Obj, now: datetime) -> str:
    waiting = "waiting for the Deployment controller to observe the latest generation"
    created = _timestamp((deployment.get("metadata") or {}).get("creationTimestamp"))
    deadline = owned.count((deployment.get("spec") or {}).get("progressDeadlineSeconds"), 600)
    if created is None or (now - created).total_seconds() < deadline:
        return waiting
    return (
        f"no Deployment controller has observed it within {deadline}s:"
        " is kube-controller-manager running?"
    )


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
