"""The Workloads port on Kubernetes: Deployments a Service adopts (`spec.workloadRef`),
and the watch that tells the controller when one changes.

`KubernetesWorkloads(res)` reads a Deployment (`adopted.workload_of`), lists those a
Service adopted (label `rollout.dev/adopted-by=<service>`), and writes JSON merge
patches: the adoption record, `spec.replicas`, the record's removal.

`watch(wake, stop)` runs one thread per watched namespace (or one for all): it lists
the adopted Deployments (waking each one's Service: a change missed while away is
seen), then watches them from the list's resourceVersion, waking the Service named
by the label of each event; a stream that ends is resumed from the last version
seen, a 410 Gone or an error lists again after a backoff. Only adopted Deployments
are watched (by the label), never every Deployment of the cluster: a Deployment a
Service names but has not adopted yet is read by the Service's reconcile, which polls
while it is missing.

I/O: the API server (`rest.Resources`), threads. Assembled by `platform.make`;
`watch` started by `rollout controller --platform kubernetes`.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from typing import Any

import kubernetes.watch.watch
import structlog

from rollout.api import names
from rollout.platforms import ports
from rollout.platforms.kubernetes import adopted, refs, rest

__all__ = ["KubernetesWorkloads", "Wake"]

log = structlog.get_logger(__name__)

USES: tuple[tuple[str, str, tuple[str, ...]], ...] = (  # for the RBAC rules (see store.USES)
    ("apps", "deployments", ("get", "list", "watch", "patch")),
)

Wake = Callable[[str, str], None]  # (namespace, service): reconcile that Service
_STREAM_SECONDS = 300
_BACKOFF = (0.2, 5.0)


class KubernetesWorkloads:
    """Workloads port: adopted Deployments (see the module docstring)."""

    def __init__(self, resources: rest.Resources, *, namespaces: tuple[str, ...] | None = None):
        self.res = resources
        self.namespaces = namespaces
        self._responses: dict[str | None, Any] = {}
        self._lock = threading.Lock()

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
        threads = [
            threading.Thread(
                target=self._run,
                args=(namespace, wake, stop),
                name="k8s-watch-adopted" + (f"-{namespace}" if namespace else ""),
                daemon=True,
            )
            for namespace in (self.namespaces or (None,))
        ]
        for thread in threads:
            thread.start()
        return threads

    def stop(self) -> None:
        """Unblock the streams being read (the threads end once `stop` is set)."""
        with self._lock:
            responses = list(self._responses.values())
        for response in responses:
            with contextlib.suppress(Exception):
                response.shutdown()

    def _run(self, namespace: str | None, wake: Wake, stop: threading.Event) -> None:
        delay = _BACKOFF[0]
        since: str | None = None
        while not stop.is_set():
            try:
                if since is None:
                    since = self._list(namespace, wake)
                since = self._stream(namespace, since, wake, stop)
                delay = _BACKOFF[0]
                continue
            except Exception as exc:  # 410 Gone, network trouble: list again
                if stop.is_set():
                    return
                log.warning("adopted Deployments: watch failed; listing again", error=str(exc))
                since = None
            stop.wait(delay)
            delay = min(delay * 2, _BACKOFF[1])

    def _list(self, namespace: str | None, wake: Wake) -> str:
        listed = self.res.list(refs.DEPLOYMENTS, namespace, labels=names.ADOPTED_BY_LABEL)
        for item in listed.get("items") or []:
            _wake_for(item, wake)
        return str((listed.get("metadata") or {}).get("resourceVersion", ""))

    def _stream(self, namespace: str | None, since: str, wake: Wake, stop: threading.Event) -> str:
        response = self.res.watch(
            refs.DEPLOYMENTS,
            namespace,
            since=since,
            seconds=_STREAM_SECONDS,
            labels=names.ADOPTED_BY_LABEL,
        )
        with self._lock:
            self._responses[namespace] = response
        try:
            for line in kubernetes.watch.watch.iter_resp_lines(response):  # type: ignore[no-untyped-call]
                if stop.is_set():
                    break
                if not line.strip():
                    continue
                event = json.loads(line)
                body = event.get("object") or {}
                if event.get("type") == "ERROR":
                    raise rest.ApiError(
                        "WATCH adopted deployments",
                        status=body.get("code", 500),
                        reason=body.get("message"),
                    )
                since = str((body.get("metadata") or {}).get("resourceVersion") or since)
                if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                    _wake_for(body, wake)
        finally:
            with self._lock:
                self._responses.pop(namespace, None)
            response.release_conn()
        return since


def _wake_for(deployment: dict[str, Any], wake: Wake) -> None:
    meta = deployment.get("metadata") or {}
    service = (meta.get("labels") or {}).get(names.ADOPTED_BY_LABEL)
    if service:
        wake(str(meta.get("namespace") or "default"), str(service))
