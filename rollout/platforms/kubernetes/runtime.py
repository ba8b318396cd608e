"""The Runtime port on Kubernetes: a Revision runs as a Deployment, a Service and,
when its template scales, a HorizontalPodAutoscaler.

`ensure(rev, replicas=n)` makes each object exist as `workloads.make_*` describes it
for `n` replicas (0: the Deployment at `replicas: 0`, its Service and HPA kept, so
that scaling up again is one patch) and reads the revision's state from the
Deployment's status (`workloads.deployment_state`). What we
last wrote is fingerprinted in the annotation `rollout.dev/spec-hash`
(`names.SPEC_HASH_ANNOTATION`): an object is rewritten only when what we want differs
from what we wrote — never because the API server filled in defaults, and never
fighting the autoscaler over `replicas`. An object edited by hand keeps its hash, so
it is left alone; deleting it makes `ensure` create it again.

`remove(namespace, name)` deletes the three; owner references would let the garbage
collector do it too, this just does not wait for it.

`converge` is the create-or-patch-by-fingerprint step, shared with the router. An
existing object that carries neither our fingerprint nor our managed-by label is
someone else's: `converge` raises `NotOwned` rather than take it over (the reconcile
fails with that message on the object's ReconcileError condition).
I/O: the API server (`rest.Resources`). Called by the reconcilers through the Runtime
port (`platform.make`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from rollout import clock as clocks
from rollout.api import names, revision
from rollout.platforms import ports
from rollout.platforms.kubernetes import refs, rest, workloads

__all__ = ["KubernetesRuntime", "NotOwned", "converge"]

USES: tuple[tuple[str, str, tuple[str, ...]], ...] = (  # for the RBAC rules (see store.USES)
    ("apps", "deployments", ("get", "create", "patch", "delete")),
    ("", "services", ("get", "create", "patch", "delete")),
    ("autoscaling", "horizontalpodautoscalers", ("get", "create", "patch", "delete")),
)


def fingerprint(body: dict[str, Any]) -> str:
    """A short stable hash of what we want an object to be (spec and labels)."""
    wanted = {k: v for k, v in body.items() if k not in ("status",)}
    text = json.dumps(wanted, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def converge(
    res: rest.Resources, ref: refs.Ref, namespace: str, body: dict[str, Any]
) -> dict[str, Any]:
    """Make the object `body` describes exist as described; return it as stored."""
    name = body["metadata"]["name"]
    digest = fingerprint(body)
    desired = json.loads(json.dumps(body))
    desired["metadata"].setdefault("annotations", {})[names.SPEC_HASH_ANNOTATION] = digest
    current = res.find(ref, namespace, name)
    if current is None:
        try:
            return res.create(ref, namespace, desired)
        except Exception as exc:
            if not rest.is_status(exc, 409):  # made meanwhile: read it below
                raise
            current = res.get(ref, namespace, name)
    annotations = current.get("metadata", {}).get("annotations") or {}
    labels = current.get("metadata", {}).get("labels") or {}
    if (
        names.SPEC_HASH_ANNOTATION not in annotations
        and labels.get(names.MANAGED_BY_LABEL) != names.MANAGED_BY
    ):
        raise NotOwned(
            f"{ref.plural}/{name} exists in namespace {namespace} and was not made by rollout:"
            " it is left alone (an existing Kubernetes Service named like the rollout"
            " Service? give one of them another name)"
        )
    if annotations.get(names.SPEC_HASH_ANNOTATION) == digest:
        return current
    patch = {k: v for k, v in desired.items() if k not in ("apiVersion", "kind", "status")}
    return res.patch(ref, namespace, name, patch)


class NotOwned(Exception):
    """An object of the name we would write exists and is someone else's (Knative's
    "not owned"): never taken over — e.g. the Kubernetes Service of a Deployment a
    Service adopts, when both have the same name."""


class KubernetesRuntime:
    """Runtime port: Deployment + Service (+ HPA) per revision."""

    def __init__(self, resources: rest.Resources, clock: clocks.Clock) -> None:
        self.res = resources
        self.clock = clock

    def ensure(self, rev: revision.Revision, *, replicas: int) -> ports.RuntimeState:
        namespace = rev.metadata.namespace or "default"
        body = workloads.make_deployment(rev, replicas=replicas)
        deployment = converge(self.res, refs.DEPLOYMENTS, namespace, body)
        converge(self.res, refs.SERVICES, namespace, workloads.make_revision_service(rev))
        hpa = workloads.make_hpa(rev, replicas=replicas)
        if hpa is not None:  # templates are immutable: an HPA never has to go away
            converge(self.res, refs.HPAS, namespace, hpa)
        return workloads.deployment_state(deployment, self.clock.now())

    def remove(self, namespace: str, name: str) -> None:
        for ref in (refs.HPAS, refs.SERVICES, refs.DEPLOYMENTS):
            self.res.delete(ref, namespace, name)
