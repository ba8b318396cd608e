"""What an adopted Deployment (`spec.workloadRef`) says, and the patches that adopt,
scale and give it back:

    stored Deployment → ports.Workload (its pod template as the revisions take it)
    adopt / scale / release → JSON merge patches of the Deployment

Decisions:
- The pod template is the Deployment's `spec.template` without what the Deployment
  controller adds (the `pod-template-hash` label) and without pod metadata a
  template does not carry (name, creationTimestamp…): only labels and annotations.
  The API server's defaults in the spec are kept (they are the same on every read,
  so a template changes only when someone changes it).
- The adoption is recorded on the Deployment's own metadata (not its pod template,
  so recording it restarts no pod): the label `rollout.dev/adopted-by: <service>`
  (what the controller's Deployment watch selects) and the annotation
  `rollout.dev/original-replicas` (what is given back), written once.
- `replicas` is what the Deployment asks for (1 when unset, as the API server
  defaults it); `availableReplicas` counts only once the status has observed the
  current generation.

No I/O, no client import. Called by `adopter.py`; table-tested in
tests/unit/kubernetes/test_adopted.py.
"""

from __future__ import annotations

from typing import Any

from rollout.api import names
from rollout.platforms import ports
from rollout.platforms.kubernetes import owned

__all__ = ["HASH_LABEL", "adopt_patch", "release_patch", "scale_patch", "workload_of"]

HASH_LABEL = "pod-template-hash"  # the Deployment controller's, on its ReplicaSets' pods

Obj = owned.Obj


def workload_of(deployment: Obj) -> ports.Workload:
    meta = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    template = spec.get("template") or {}
    pod_meta = template.get("metadata") or {}
    labels = {k: v for k, v in (pod_meta.get("labels") or {}).items() if k != HASH_LABEL}
    kept: Obj = {}
    if labels:
        kept["labels"] = labels
    if pod_meta.get("annotations"):
        kept["annotations"] = dict(pod_meta["annotations"])
    generation, observed = meta.get("generation"), status.get("observedGeneration")
    current = isinstance(observed, int) and (
        not isinstance(generation, int) or observed >= generation
    )
    annotations = meta.get("annotations") or {}
    return ports.Workload(
        name=str(meta.get("name", "")),
        template={"metadata": kept, "spec": template.get("spec") or {}},
        replicas=owned.count(spec.get("replicas"), 1),
        available_replicas=owned.count(status.get("availableReplicas")) if current else 0,
        original_replicas=_count(annotations.get(names.ORIGINAL_REPLICAS_ANNOTATION)),
        adopted_by=(meta.get("labels") or {}).get(names.ADOPTED_BY_LABEL),
    )


def _count(text: Any) -> int | None:
    try:
        value = int(str(text))
    except ValueError:
        return None
    return value if value >= 0 else None


def adopt_patch(service: str, original_replicas: int) -> Obj:
    return {
        "metadata": {
            "labels": {names.ADOPTED_BY_LABEL: service},
            "annotations": {names.ORIGINAL_REPLICAS_ANNOTATION: str(original_replicas)},
        }
    }


def scale_patch(replicas: int) -> Obj:
    return {"spec": {"replicas": replicas}}


def release_patch() -> Obj:
    """Remove the adoption's label and annotation (null deletes in a merge patch)."""
    return {
        "metadata": {
            "labels": {names.ADOPTED_BY_LABEL: None},
            "annotations": {names.ORIGINAL_REPLICAS_ANNOTATION: None},
        }
    }
