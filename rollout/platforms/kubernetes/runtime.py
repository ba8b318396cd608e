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

`watch(wake, stop)` watches the Deployments we made (by our managed-by label,
`labelwatch.LabelWatch`) and wakes the revision of each one that is listed or whose
status changes; while every stream is connected, `ensure` reports its state as
`watched` and the Revision reconciler stops polling it every second. A deletion
wakes nothing: it is most often the garbage collector's after the Revision's own,
and a reconcile from a store cache that has not seen that yet would make the
Deployment again; one deleted by hand is made again at the revision's next look.

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

import dataclasses
import hashlib
import json
import threading
from collections.abc import Callable
from typing import Any

from rollout import clock as clocks
from rollout.api import names, revision
from rollout.platforms import ports
from rollout.platforms.kubernetes import labelwatch, refs, rest, workloads

__all__ = ["KubernetesRuntime", "NotOwned", "Wake", "converge"]

Wake = Callable[[str, str], None]  # (namespace, revision): reconcile that Revision
OWNED = f"{names.MANAGED_BY_LABEL}={names.MANAGED_BY},{names.REVISION_LABEL}"

USES: tuple[tuple[str, str, tuple[str, ...]], ...] = (  # for the RBAC rules (see store.USES)
    ("apps", "deployments", ("get", "list", "watch", "create", "patch", "delete")),
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

    def __init__(
        self,
        resources: rest.Resources,
        clock: clocks.Clock,
        *,
        namespaces: tuple[str, ...] | None = None,
    ) -> None:
        self.res = resources
        self.clock = clock
        self.namespaces = namespaces
        self._watch: labelwatch.LabelWatch | None = None
        self._seen: dict[tuple[str, str], str] = {}  # the last status each Deployment had
        self._lock = threading.Lock()

    def ensure(self, rev: revision.Revision, *, replicas: int) -> ports.RuntimeState:
        namespace = rev.metadata.namespace or "default"
        body = workloads.make_deployment(rev, replicas=replicas)
        deployment = converge(self.res, refs.DEPLOYMENTS, namespace, body)
        converge(self.res, refs.SERVICES, namespace, workloads.make_revision_service(rev))
        hpa = workloads.make_hpa(rev, replicas=replicas)
        if hpa is not None:  # templates are immutable: an HPA never has to go away
            converge(self.res, refs.HPAS, namespace, hpa)
        watched = self._watch is not None and self._watch.synced()
        state = workloads.deployment_state(deployment, self.clock.now())
        return dataclasses.replace(state, watched=watched)

    def remove(self, namespace: str, name: str) -> None:
        for ref in (refs.HPAS, refs.SERVICES, refs.DEPLOYMENTS):
            self.res.delete(ref, namespace, name)

    # --- the watch --------------------------------------------------------------------

    def watch(self, wake: Wake, stop: threading.Event) -> list[threading.Thread]:
        """Watch our Deployments (until `stop`): a change of one's status wakes its
        revision. Return the threads."""

        def changed(kind: str, deployment: dict[str, Any]) -> None:
            meta = deployment.get("metadata") or {}
            revision_name = (meta.get("labels") or {}).get(names.REVISION_LABEL)
            if not revision_name:
                return
            key = (str(meta.get("namespace") or "default"), str(revision_name))
            status = json.dumps(deployment.get("status") or {}, sort_keys=True)
            with self._lock:
                if kind == "DELETED":  # most often the garbage collector's, its Revision
                    self._seen.pop(key, None)  # gone: a wake would race our cache of it
                    return  # and make it again (one deleted by hand: at the next look)
                if self._seen.get(key) == status and kind != "LISTED":
                    return  # our own write (spec, labels): nothing to tell
                self._seen[key] = status
            wake(*key)

        self._watch = labelwatch.LabelWatch(
            self.res,
            refs.DEPLOYMENTS,
            OWNED,
            changed,
            namespaces=self.namespaces,
            name="deployments",
        )
        return self._watch.start(stop)

    def stop(self) -> None:
        """Unblock the streams being read (the threads end once `stop` is set)."""
        if self._watch is not None:
            self._watch.stop()
