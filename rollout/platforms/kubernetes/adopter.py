"""The Workloads port on Kubernetes: Deployments a Service adopts (`spec.workloadRef`),
and the watch that tells the controller when one changes.

`KubernetesWorkloads(res)` reads a Deployment (`adopted.workload_of`), lists those a
Service adopted (label `rollout.dev/adopted-by=<service>`), and writes JSON merge
patches: the adoption record, `spec.replicas`, the record's removal.

`watch(wake, stop)` watches the adopted Deployments by their label
(`labelwatch.LabelWatch`: list, then watch, per watched namespace), waking the
Service named by the label of each one listed or changed. Only adopted Deployments
are watched, never every Deployment of the cluster: a Deployment a
Service names but has not adopted yet is read by the Service's reconcile, which polls
while it is missing.

I/O: the API server (`rest.Resources`), threads. Assembled by `platform.make`;
`watch` started by `rollout controller --platform kubernetes`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from rollout.api import names
from rollout.platforms import ports
from rollout.platforms.kubernetes import adopted, labelwatch, refs, rest

__all__ = ["KubernetesWorkloads", "Wake"]

USES: tuple[tuple[str, str, tuple[str, ...]], ...] = (  # for the RBAC rules (see store.USES)
    ("apps", "deployments", ("get", "list", "watch", "patch")),
)

Wake = Callable[[str, str], None]  # (namespace, service): reconcile that Service


class KubernetesWorkloads:
    """Workloads port: adopted Deployments (see the module docstring)."""

    def __init__(self, resources: rest.Resources, *, namespaces: tuple[str, ...] | None = None):
        self.res = resources
        self.namespaces = namespaces
        self._watch: labelwatch.LabelWatch | None = None

    def read(self, namespace: str, name: str) -> ports.Workload | None:
        found = self.res.find(refs.DEPLOYMENTS, namespace, name)
        return adopted.workload_of(found) if found is not None else None

    def adopted(self, namespace: str, service: str) -> list[ports.Workload]:
        listed = self.res.list(
            refs.DEPLOYMENTS, namespace, labels=f"{names.ADOPTED_BY_LABEL}={service}"
        )
        return [adopted.workload_of(item) for item in listed.get("items") or []]

    def adopt(self, namespace: str, name: str, *, service: str, original_replicas: int) -> None:
        patch = adopted.adopt_patch(service, original_replicas)
        self.res.patch(refs.DEPLOYMENTS, namespace, name, patch)

    def scale(self, namespace: str, name: str, replicas: int) -> None:
        self.res.patch(refs.DEPLOYMENTS, namespace, name, adopted.scale_patch(replicas))

    def release(self, namespace: str, name: str) -> None:
        try:
            self.res.patch(refs.DEPLOYMENTS, namespace, name, adopted.release_patch())
        except Exception as exc:
            if not rest.is_status(exc, 404):  # gone: nothing to give back
                raise

    # --- the watch --------------------------------------------------------------------

    def watch(self, wake: Wake, stop: threading.Event) -> list[threading.Thread]:
        """Start the watch threads (they end when `stop` is set); return them."""

        def changed(_: str, deployment: dict[str, Any]) -> None:
            meta = deployment.get("metadata") or {}
            service = (meta.get("labels") or {}).get(names.ADOPTED_BY_LABEL)
            if service:
                wake(str(meta.get("namespace") or "default"), str(service))

        self._watch = labelwatch.LabelWatch(
            self.res,
            refs.DEPLOYMENTS,
            names.ADOPTED_BY_LABEL,
            changed,
            namespaces=self.namespaces,
            name="adopted",
        )
        return self._watch.start(stop)

    def stop(self) -> None:
        """Unblock the streams being read (the threads end once `stop` is set)."""
        if self._watch is not None:
            self._watch.stop()
