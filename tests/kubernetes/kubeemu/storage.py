"""The object store: objects, one global resourceVersion counter and the event history.

Like etcd behind the apiserver: every write (create, update, delete) takes the next
value of a single increasing integer as the object's `metadata.resourceVersion`
(a string on the wire) and appends one `Event` to a bounded history (`history`
events, oldest dropped first). A watch may resume from any resourceVersion at or
after the newest dropped event; older is `Expired` (410).

Objects are kept per group resource (`(group, plural)`), keyed by
`(namespace, name)` (`""` for cluster-scoped), in the form they were written; the
stored dicts are never mutated after a write, so events share them safely.
Readers get deep copies.

The uid (and namespace) of every removed object is kept (`gone`): the garbage
collector tells a removed owner from one that never existed by it.

Thread-safety: one re-entrant lock (`locked()`) guards everything; a handler holds it
across read-check-write so a conditional update is a compare-and-swap. Watchers
block on the same condition for new events. `close()` wakes every watcher for good.

Called by `api.py` (requests) and `server.py` (the test helpers). No I/O.
"""

from __future__ import annotations

import copy
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from kubeemu import errors

__all__ = ["Event", "GroupResource", "Store"]

GroupResource = tuple[str, str]


@dataclass(frozen=True)
class Event:
    """One write: `ADDED`, `MODIFIED` or `DELETED`, with the object before and after."""

    rv: int
    type: str
    group_resource: GroupResource
    obj: dict[str, Any]
    old: dict[str, Any] | None


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj["metadata"]
    return (meta.get("namespace") or "", meta["name"])


class Store:
    """Objects, resourceVersions and the bounded event history."""

    def __init__(self, *, history: int) -> None:
        if history < 1:
            raise ValueError("history must keep at least one event")
        self._cond = threading.Condition(threading.RLock())
        self._rv = 0
        self._objects: dict[GroupResource, dict[tuple[str, str], dict[str, Any]]] = {}
        self._events: deque[Event] = deque()
        self._history = history
        self._compacted = 0
        self._closed = False
        self._gone: dict[str, str] = {}  # uid → namespace of every object removed

    def locked(self) -> threading.Condition:
        """The store's lock (re-entrant), to hold across a read-check-write."""
        return self._cond

    @property
    def resource_version(self) -> int:
        with self._cond:
            return self._rv

    @property
    def closed(self) -> bool:
        return self._closed

    # --- reads -------------------------------------------------------------------

    def get(self, gr: GroupResource, namespace: str, name: str) -> dict[str, Any] | None:
        with self._cond:
            obj = self._objects.get(gr, {}).get((namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def list(
        self, gr: GroupResource, namespace: str | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        """Objects of a group resource (in one namespace or all), sorted, and the current rv."""
        with self._cond:
            found = [
                copy.deepcopy(obj)
                for key, obj in sorted(self._objects.get(gr, {}).items())
                if namespace is None or key[0] == namespace
            ]
            return found, self._rv

    def snapshot(self) -> list[tuple[GroupResource, dict[str, Any]]]:
        """Every stored object (not copied: read only), for garbage-collection planning."""
        with self._cond:
            return [(gr, obj) for gr, objs in self._objects.items() for obj in objs.values()]

    @property
    def gone(self) -> dict[str, str]:
        """uid → namespace of every object removed so far (not copied: read only, under
        `locked()`), for the garbage collector."""
        return self._gone

    # --- writes ------------------------------------------------------------------

    def _write(self, kind: str, gr: GroupResource, obj: dict[str, Any], old: Any) -> dict:
        self._rv += 1
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(self._rv)
        objects = self._objects.setdefault(gr, {})
        if kind == "DELETED":
            objects.pop(_key(stored), None)
            self._gone[str(stored["metadata"].get("uid"))] = _key(stored)[0]
        else:
            objects[_key(stored)] = stored
        self._events.append(Event(self._rv, kind, gr, stored, old))
        while len(self._events) > self._history:
            self._compacted = self._events.popleft().rv
        self._cond.notify_all()
        return copy.deepcopy(stored)

    def create(self, gr: GroupResource, obj: dict[str, Any]) -> dict[str, Any] | None:
        """Store a new object; None when its name is taken."""
        with self._cond:
            if _key(obj) in self._objects.get(gr, {}):
                return None
            return self._write("ADDED", gr, obj, None)

    def replace(self, gr: GroupResource, obj: dict[str, Any]) -> dict[str, Any]:
        """Overwrite an existing object (the caller checked preconditions under `locked()`)."""
        with self._cond:
            old = self._objects.get(gr, {}).get(_key(obj))
            if old is None:
                raise KeyError(_key(obj))
            return self._write("MODIFIED", gr, obj, old)

    def remove(self, gr: GroupResource, namespace: str, name: str) -> dict[str, Any] | None:
        """Delete an object; return it (with the deletion's resourceVersion), None if absent."""
        with self._cond:
            old = self._objects.get(gr, {}).get((namespace, name))
            if old is None:
                return None
            return self._write("DELETED", gr, old, old)

    # --- watch -------------------------------------------------------------------

    def events_after(self, rv: int, *, timeout: float) -> list[Event]:
        """Events newer than `rv`, waiting up to `timeout` s for one; `[]` on timeout or close.

        Raises `Expired` when events after `rv` were already dropped from the history.
        """
        with self._cond:
            while True:
                if rv < self._compacted:
                    raise errors.Expired(f"too old resource version: {rv} ({self._compacted + 1})")
                if self._closed:
                    return []
                if self._rv > rv:
                    return [e for e in self._events if e.rv > rv]
                if timeout <= 0 or not self._cond.wait(timeout):
                    return []
                timeout = 0

    def close(self) -> None:
        """Wake every watcher and make them end."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
