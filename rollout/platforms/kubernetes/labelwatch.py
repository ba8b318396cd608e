"""A watch of the objects of one kind that carry a label, calling back on each change.

`LabelWatch(res, ref, labels, on_change, namespaces=…, name=…)`; `start(stop)` runs
one thread per watched namespace (or one for all): it lists the selected objects
(calling `on_change` with each: a change missed while away is seen), then watches
them from the list's resourceVersion, calling `on_change(type, object)` for each
ADDED, MODIFIED and DELETED event; a stream that ends is resumed from the last version
seen, a 410 Gone or an error lists again after a backoff (0.2 s, doubling to 5 s).
`synced()` says whether every stream is listed and connected — until then a caller
relying on the watch polls instead. `stop()` unblocks the streams being read (the
threads end once `stop` is set).

Used for the Deployments Services adopt (`adopter.py`, by `rollout.dev/adopted-by`)
and for those the runtime makes (`runtime.py`, by our managed-by label): only objects
with the label are watched, never every Deployment of the cluster.

I/O: the API server (`rest.Resources`), threads.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from typing import Any

import kubernetes.watch.watch
import structlog

from rollout.platforms.kubernetes import refs, rest

__all__ = ["LabelWatch", "OnChange"]

log = structlog.get_logger(__name__)

OnChange = Callable[[str, dict[str, Any]], None]  # (ADDED|MODIFIED|DELETED|LISTED, object)
_STREAM_SECONDS = 300
_BACKOFF = (0.2, 5.0)


class LabelWatch:
    """List-then-watch of one kind by label selector (see the module docstring)."""

    def __init__(
        self,
        res: rest.Resources,
        ref: refs.Ref,
        labels: str,
        on_change: OnChange,
        *,
        namespaces: tuple[str, ...] | None = None,
        name: str,
    ) -> None:
        self.res = res
        self.ref = ref
        self.labels = labels
        self.on_change = on_change
        self.namespaces: tuple[str | None, ...] = namespaces or (None,)
        self.name = name
        self._responses: dict[str | None, Any] = {}
        self._connected: set[str | None] = set()
        self._lock = threading.Lock()

    def start(self, stop: threading.Event) -> list[threading.Thread]:
        """Start the watch threads (they end when `stop` is set); return them."""
        threads = [
            threading.Thread(
                target=self._run,
                args=(namespace, stop),
                name=f"k8s-watch-{self.name}" + (f"-{namespace}" if namespace else ""),
                daemon=True,
            )
            for namespace in self.namespaces
        ]
        for thread in threads:
            thread.start()
        return threads

    def synced(self) -> bool:
        """Every stream listed and connected: a change will be called back."""
        with self._lock:
            return len(self._connected) == len(self.namespaces)

    def stop(self) -> None:
        """Unblock the streams being read (the threads end once `stop` is set)."""
        with self._lock:
            responses = list(self._responses.values())
        for response in responses:
            with contextlib.suppress(Exception):
                response.shutdown()

    def _run(self, namespace: str | None, stop: threading.Event) -> None:
        delay = _BACKOFF[0]
        since: str | None = None
        while not stop.is_set():
            try:
                if since is None:
                    since = self._list(namespace)
                since = self._stream(namespace, since, stop)
                delay = _BACKOFF[0]
                continue
            except Exception as exc:  # 410 Gone, network trouble: list again
                with self._lock:
                    self._connected.discard(namespace)
                if stop.is_set():
                    return
                log.warning(
                    "watch failed; listing again",
                    watch=self.name,
                    namespace=namespace,
                    error=str(exc),
                )
                since = None
            stop.wait(delay)
            delay = min(delay * 2, _BACKOFF[1])

    def _list(self, namespace: str | None) -> str:
        listed = self.res.list(self.ref, namespace, labels=self.labels)
        for item in listed.get("items") or []:
            self.on_change("LISTED", item)
        return str((listed.get("metadata") or {}).get("resourceVersion", ""))

    def _stream(self, namespace: str | None, since: str, stop: threading.Event) -> str:
        response = self.res.watch(
            self.ref, namespace, since=since, seconds=_STREAM_SECONDS, labels=self.labels
        )
        with self._lock:
            self._responses[namespace] = response
            self._connected.add(namespace)
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
                        f"WATCH {self.name}",
                        status=body.get("code", 500),
                        reason=body.get("message"),
                    )
                since = str((body.get("metadata") or {}).get("resourceVersion") or since)
                if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                    self.on_change(str(event["type"]), body)
        finally:
            with self._lock:
                self._responses.pop(namespace, None)
                self._connected.discard(namespace)
            response.release_conn()
        return since
