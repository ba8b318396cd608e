"""The in-memory store: the Store contract in one process, for tests and the
rehearsal platform.

Objects are kept as their JSON (so every read is a fresh copy and nothing a caller
does to a returned object leaks in); one lock guards everything; a bounded log of
changes per kind serves `watch` (a watch reads only its kind's events), and a
condition variable per kind wakes only the watchers of the kind that changed.
resourceVersions are one counter across kinds, like etcd's revision. Objects are
parsed outside the lock; a watch event's object when it is first read. An object
whose JSON no longer decodes (a test planting one, as an older version or a hand
edit would) is listed apart (`Listed.invalid`) and can still be updated, have its
status written (`update_invalid_status`) and be deleted.

Deletion honours finalizers as a cluster does: `delete` of an object that has some
only sets its `deletionTimestamp` (a MODIFIED event); the update that removes its
last finalizer deletes it (and, as ever, what it owns).

Called through the `port.Store` protocol only.
"""

from __future__ import annotations

import bisect
import builtins
import collections
import functools
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from rollout.api import kinds
from rollout.api.meta import ObjectMeta
from rollout.store import errors, objects, port

__all__ = ["MemoryStore"]

_Key = tuple[str, str, str]
_Log = list[tuple[int, port.EventType, str, _Key]]  # one kind's: (resourceVersion, type, JSON, key)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class MemoryStore:
    """A Store in a dict. Thread-safe."""

    def __init__(self, *, now: Callable[[], datetime] = _utcnow, log_size: int = 100_000) -> None:
        self._now = now
        self._objects: dict[_Key, str] = {}
        self._logs: dict[str, _Log] = {kind: [] for kind in kinds.KINDS}
        self._order: collections.deque[tuple[int, str]] = collections.deque()  # rv, kind
        self._log_size = log_size
        self._dropped_until = 0  # events up to this resourceVersion are forgotten
        self._kind_dropped: dict[str, int] = dict.fromkeys(kinds.KINDS, 0)  # the same, by kind
        self._rv = 0
        self._owned: dict[str, dict[_Key, None]] = {}  # owner uid → what names it (ordered)
        self._owners: dict[_Key, tuple[str, ...]] = {}  # key → the owner uids it names
        self._kinds: dict[str, dict[_Key, None]] = {}  # kind → its keys (ordered set)
        self._labels: dict[_Key, dict[str, str]] = {}
        self._by_label: dict[tuple[str, str, str], dict[_Key, None]] = {}  # kind, key, value
        self._lock = threading.RLock()  # reentrant: a test holds it across writes
        self._changed = {kind: threading.Condition(self._lock) for kind in kinds.KINDS}

    # --- reads ------------------------------------------------------------------------

    def get(self, kind: str, namespace: str, name: str) -> kinds.Resource:
        objects.kind_of(kind)
        with self._lock:
            text = self._objects.get((kind, namespace, name))
        if text is None:
            raise errors.NotFound(f"{kind} {namespace}/{name} not found")
        return objects.loads(kind, text, key=(kind, namespace, name))

    def list(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        labels: Mapping[str, str] | None = None,
    ) -> port.Listed:
        objects.kind_of(kind)
        with self._lock:
            if labels:
                first = next(iter(labels.items()))
                keys = builtins.list(self._by_label.get((kind, *first), {}))
            else:
                keys = builtins.list(self._kinds.get(kind, {}))
            keys = [
                k
                for k in keys
                if (namespace is None or k[1] == namespace)
                and all(self._labels[k].get(n) == v for n, v in (labels or {}).items())
            ]
            texts = [self._objects[k] for k in keys]
            rv = self._rv
        items, invalid = objects.load_each(kind, texts, keys)
        items = [o for o in items if objects.matches(o, namespace, labels)]
        items.sort(key=lambda o: (o.metadata.namespace or "", o.metadata.name))
        invalid.sort(key=lambda o: o.key)
        return port.Listed(items, str(rv), invalid)

    # --- writes -----------------------------------------------------------------------

    def create(self, obj: kinds.Resource) -> kinds.Resource:
        with self._lock:
            new = objects.created(obj, resource_version=str(self._rv + 1), now=self._now())
            key = port.key_of(new)
            if key in self._objects:
                raise errors.AlreadyExists(f"{key[0]} {key[1]}/{key[2]} already exists")
            text = objects.dumps(new)
            self._put(key, text, port.EventType.ADDED, new.metadata)
        return objects.loads(key[0], text)

    def update(self, obj: kinds.Resource) -> kinds.Resource:
        key = port.key_of(obj)
        with self._lock:
            text = objects.updated(self._stored(key), obj, resource_version=str(self._rv + 1))
            self._put(key, text, port.EventType.MODIFIED, obj.metadata)
            meta = json.loads(text)["metadata"]
            if meta.get("deletionTimestamp") and not meta.get("finalizers"):
                self._remove(key)  # the last finalizer is gone: the deletion happens now
        return objects.loads(key[0], text)

    def update_status(self, obj: kinds.Resource) -> kinds.Resource:
        text, _ = self._write_status(obj)
        return objects.loads(obj.kind, text)

    def update_status_version(self, obj: kinds.Resource) -> str:
        """`port.QuietStatusWrites`: no object parsed."""
        return self._write_status(obj)[1]

    def _write_status(self, obj: kinds.Resource) -> tuple[str, str]:
        """Write `obj`'s status; the stored JSON and its resourceVersion."""
        key = port.key_of(obj)
        with self._lock:
            rv = str(self._rv + 1)
            text = objects.status_updated(self._stored(key), obj, resource_version=rv)
            self._put(key, text, port.EventType.MODIFIED, None)
        return text, rv

    def update_invalid_status(self, obj: port.InvalidObject, status: Mapping[str, Any]) -> str:
        key = obj.key
        with self._lock:
            rv = str(self._rv + 1)
            text = objects.invalid_status_updated(
                self._stored(key), obj, status, resource_version=rv
            )
            self._put(key, text, port.EventType.MODIFIED, None)
        return rv

    def delete(self, kind: str, namespace: str, name: str) -> None:
        objects.kind_of(kind)
        key = (kind, namespace, name)
        with self._lock:
            data = json.loads(self._stored(key))
            meta = data.get("metadata") or {}
            if meta.get("finalizers"):  # marked, kept until its finalizers are removed
                if not meta.get("deletionTimestamp"):
                    meta["deletionTimestamp"] = self._now().isoformat().replace("+00:00", "Z")
                    meta["resourceVersion"] = str(self._rv + 1)
                    self._put(
                        key, json.dumps(data, separators=(",", ":")), port.EventType.MODIFIED, None
                    )
                return
            self._remove(key)

    def _remove(self, key: _Key) -> None:
        """Delete `key` and, recursively, what names it as an owner (under the lock)."""
        with self._lock:
            pending: builtins.list[_Key] = [key]
            while pending:
                key = pending.pop()
                text = self._objects.pop(key, None)
                if text is None:  # already deleted through another owner
                    continue
                self._rv += 1
                self._append(key, port.EventType.DELETED, text)
                self._index_owners(key, ())
                self._index_labels(key, {}, present=False)
                uid = objects.uid_of(text)
                pending.extend(self._owned.pop(uid, {}))

    def _index_labels(self, key: _Key, labels: dict[str, str], *, present: bool) -> None:
        """Keys by kind and by label, so a list reads only what it returns."""
        for label in self._labels.pop(key, {}).items():
            self._by_label.get((key[0], *label), {}).pop(key, None)
        if present:
            self._kinds.setdefault(key[0], {})[key] = None
            self._labels[key] = dict(labels)
            for label in labels.items():
                self._by_label.setdefault((key[0], *label), {})[key] = None
        else:
            self._kinds.get(key[0], {}).pop(key, None)

    def _index_owners(self, key: _Key, uids: tuple[str, ...]) -> None:
        """Record which owners `key` names (an index, so cascade needs no scan)."""
        for uid in self._owners.pop(key, ()):
            self._owned.get(uid, {}).pop(key, None)
        if uids:
            self._owners[key] = uids
        for uid in uids:
            self._owned.setdefault(uid, {})[key] = None

    def _stored(self, key: _Key) -> str:
        text = self._objects.get(key)
        if text is None:
            raise errors.NotFound(f"{key[0]} {key[1]}/{key[2]} not found")
        return text

    def _put(self, key: _Key, text: str, type_: port.EventType, meta: ObjectMeta | None) -> None:
        """Store `text` at `key` and log it; `meta` (None: unchanged) for the indexes."""
        self._rv += 1
        self._objects[key] = text
        if meta is not None:
            self._index_owners(key, tuple(ref.uid for ref in meta.owner_references))
            self._index_labels(key, meta.labels, present=True)
        self._append(key, type_, text)

    def _append(self, key: _Key, type_: port.EventType, text: str) -> None:
        """Log an event of `key` at the current resourceVersion and wake the watchers of
        its kind; past twice `log_size` events, forget all but the last `log_size`."""
        kind = key[0]
        self._logs[kind].append((self._rv, type_, text, key))
        self._order.append((self._rv, kind))
        if len(self._order) > 2 * self._log_size:
            while len(self._order) > self._log_size:
                rv, dropped = self._order.popleft()
                self._kind_dropped[dropped] = rv
            self._dropped_until = rv
            for name, log in self._logs.items():
                del log[: bisect.bisect_right(log, self._kind_dropped[name], key=lambda e: e[0])]
        self._changed[kind].notify_all()

    # --- watch ------------------------------------------------------------------------

    def watch(self, kind: str, *, since: str, timeout: float) -> Iterator[port.WatchEvent]:
        objects.kind_of(kind)
        after = int(since)
        deadline = time.monotonic() + timeout
        with self._lock:
            if after < self._dropped_until:
                raise errors.Expired(f"resourceVersion {since} is too old; list again")
            log = self._logs[kind]
            while True:
                if after < self._kind_dropped[kind]:  # forgotten while waiting
                    raise errors.Expired(f"resourceVersion {since} is too old; list again")
                pending = (
                    log[bisect.bisect_right(log, after, key=lambda e: e[0]) :]
                    if log and log[-1][0] > after  # anything new at all? (most looks: no)
                    else []
                )
                remaining = deadline - time.monotonic()
                if pending or remaining <= 0:
                    break
                self._changed[kind].wait(remaining)
        for rv, type_, text, key in pending:  # parsed when read: a cache may have it
            yield port.WatchEvent.parsed_later(
                type_, key, str(rv), functools.partial(objects.loads, kind, text, key=key)
            )

    def close(self) -> None:
        """Nothing to release; here for the protocol."""
