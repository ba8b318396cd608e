"""The controller's read cache (an informer): every object of the watched kinds, kept
current by the controller's own list and watch, so that reconcilers read without
asking the store — no query, no parsing, no copy.

`CachedStore` wraps a Store and is one:
- writes go to the store;
- `get` answers from the cache (a copy, as the contract says) once the kind is synced;
  `list` asks the store, whose resourceVersion a watch can resume from;
- `peek` and `peek_list` hand out the cached objects themselves, shared by every
  reader: read them, never change them (client-go's rule for listers). Changing one
  means copying it first (`model_copy(update=…)` replaces, never mutates). Reconcilers
  read through them (`rollout.reconcilers.base.read`);
- `create_shared`, `update_shared` and `update_status_shared` write, and hand out the
  object the store returned, shared the same way: it is what the cache holds for that
  key from then on (the Store methods hand out a copy of it).

Fed by the controller, from one watch per kind: `replace(kind, listed)` after each
list, then `observe(event)` for each event, in order, before the keys it concerns are
queued — a reconcile caused by an event sees at least that event.

Read your writes: a write returns version X of an object while the watch may not have
delivered X yet. The key is then pinned to X, and its reads answer X — the object the
write returned — until the watch delivers X; events of the key before X (older
versions) leave the reads alone. When X arrives its event is not parsed: the cache
already holds that object (`observe` returns the event with it, for the controller's
wiring). A Conflict pins the key to the version the store has (read from it), so the
retry reads that, not the stale cached one. resourceVersions are compared for
equality only (they are opaque): a pin is not set when the watch has already
delivered X (the last `RECENT` events are remembered), and a relist unpins its kind.
A deletion pins the key until its DELETED event (when the version deleted was not
delivered yet — the key deleted and created again meanwhile — until the DELETED
event after that version), and reads of it go to the store meanwhile; objects
deleted with it by the cascade leave the cache when their own DELETED events arrive.

A status write of a cached object with a new status is not read back from a store that
can write quietly (`port.QuietStatusWrites`: memory, SQLite): the cache builds the
object stored — the one it holds with the new status and resourceVersion — instead of
parsing it (`update_status_shared`).

An object the store holds that does not decode (`port.InvalidObject`: from
`Listed.invalid`, or a watch event whose `object` raises `errors.Undecodable`) is held
apart: reads of its key raise that `errors.Undecodable` again (the reconcile of that
key is how the controller learns of it and marks it), lists leave it out, and
`update_invalid_status` writes its status and holds the record written until the
watch delivers it.

`guard = True` (tests) keeps each cached object's JSON and, when the object leaves
the cache (or, for a write's object, when its event arrives), records it in
`changed` if a reader changed it meanwhile; a status written quietly is compared with
what the store holds, and recorded there too when it differs.

Thread-safe (one lock). Called by `rollout.controller.manager`.
"""

from __future__ import annotations

import builtins
import collections
import dataclasses
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from rollout.api import kinds
from rollout.store import errors, objects, port

__all__ = ["RECENT", "CachedStore"]

RECENT = 10_000  # delivered (key, resourceVersion) pairs remembered, for pins
_MANY_PINS = 32  # a list with more deletions pending than this reads the store instead

_Key = tuple[str, str, str]
_Write = Callable[[kinds.Resource], kinds.Resource]


@dataclasses.dataclass(frozen=True)
class _Pin:
    resource_version: str | None  # None: until the key's DELETED event
    obj: kinds.Resource | None  # what reads answer meanwhile; None: read the store
    # A deletion of a version not delivered yet (the key was deleted and created again
    # meanwhile): DELETED events before that version are of an older incarnation.
    deleted_after: str | None = None


class CachedStore:
    """A Store whose reads come from a watch-fed cache; see the module docstring."""

    def __init__(self, inner: port.Store, *, guard: bool = False) -> None:
        self.inner = inner
        self._quiet = inner if isinstance(inner, port.QuietStatusWrites) else None
        self.guard = guard
        self.changed: builtins.list[_Key] = []  # shared objects a reader changed (guard)
        self._texts: dict[_Key, str] = {}
        self._lock = threading.Lock()
        self._synced: set[str] = set()
        self._objects: dict[_Key, kinds.Resource] = {}
        self._kinds: dict[str, dict[_Key, None]] = collections.defaultdict(dict)
        self._by_label: dict[tuple[str, str, str], dict[_Key, None]] = collections.defaultdict(dict)
        self._pins: dict[str, dict[_Key, _Pin]] = collections.defaultdict(dict)  # by kind
        self._recent: collections.deque[tuple[_Key, str]] = collections.deque()
        self._recent_set: set[tuple[_Key, str]] = set()
        # Objects written through the cache whose events have not arrived yet.
        self._written: dict[tuple[_Key, str], kinds.Resource] = {}
        self._written_texts: dict[tuple[_Key, str], str] = {}  # guard
        self._invalid: dict[_Key, port.InvalidObject] = {}  # objects that do not decode

    # --- feeding (the controller's list and watch) --------------------------------------

    def replace(self, kind: str, listed: port.Listed) -> None:
        """Hold exactly `listed.items` for `kind` (objects the caller gives up)."""
        with self._lock:
            for key in builtins.list(self._kinds[kind]):
                self._drop(key)
            for key in [k for k in self._invalid if k[0] == kind]:
                del self._invalid[key]
            for obj in listed.items:
                key = port.key_of(obj)
                self._put(key, obj)
                self._remember(key, obj.metadata.resource_version)
            for bad in listed.invalid:
                self._invalid[bad.key] = bad
                self._remember(bad.key, bad.metadata.resource_version)
            self._pins[kind].clear()
            for written in [w for w in self._written if w[0][0] == kind]:
                self._forget_written(written)
            self._synced.add(kind)

    def observe(self, event: port.WatchEvent) -> port.WatchEvent:
        """Apply one watch event (its object is given up by the caller). Returns the
        event with the object the cache now holds: for a write made through the cache,
        the object the write returned (the event's own is never parsed)."""
        key = event.key
        rv = event.resource_version
        deleted = event.type is port.EventType.DELETED
        with self._lock:
            mine = None if deleted else self._forget_written((key, rv))
            invalid: port.InvalidObject | None = None
            obj: kinds.Resource | None = mine
            if obj is None and not deleted:
                try:
                    obj = event.object
                except errors.Undecodable as exc:
                    invalid = exc.object
            pins = self._pins[key[0]]
            pin = pins.get(key)
            self._invalid.pop(key, None)
            if deleted or obj is None:
                self._drop(key)
            else:
                self._put(key, obj)
            if invalid is not None:
                self._invalid[key] = invalid
            self._remember(key, rv)
            if pin is not None and pin.deleted_after is not None and pin.deleted_after == rv:
                pins[key] = _Pin(None, None)  # the version deleted is delivered: its DELETED next
            elif pin is not None and (
                (pin.resource_version is None and deleted and pin.deleted_after is None)
                or (pin.resource_version is not None and pin.resource_version == rv)
            ):
                del pins[key]
        return event if mine is None else port.WatchEvent(event.type, mine, rv)

    def check(self) -> builtins.list[_Key]:
        """Guard: the keys whose shared object a reader changed, so far or now."""
        with self._lock:
            now = [
                k for k, obj in self._objects.items() if objects.dumps(obj) != self._texts.get(k)
            ]
            now += [
                w[0]
                for w, obj in self._written.items()
                if objects.dumps(obj) != self._written_texts.get(w)
            ]
            return [*self.changed, *now]

    def pinned(self) -> int:
        """How many keys are read from the store until the watch catches up."""
        with self._lock:
            return sum(len(pins) for pins in self._pins.values())

    def _put(self, key: _Key, obj: kinds.Resource) -> None:
        old = self._objects.get(key)
        if old is not None:
            self._unindex(key, old)
        self._objects[key] = obj
        if self.guard:
            self._texts[key] = objects.dumps(obj)
        self._kinds[key[0]][key] = None
        for label in obj.metadata.labels.items():
            self._by_label[(key[0], *label)][key] = None

    def _drop(self, key: _Key) -> None:
        old = self._objects.pop(key, None)
        if old is not None:
            self._unindex(key, old)
            self._kinds[key[0]].pop(key, None)

    def _unindex(self, key: _Key, old: kinds.Resource) -> None:
        if self.guard and objects.dumps(old) != self._texts.pop(key, None):
            self.changed.append(key)
        for label in old.metadata.labels.items():
            index = self._by_label.get((key[0], *label))
            if index is not None:
                index.pop(key, None)
                if not index:
                    del self._by_label[(key[0], *label)]

    def _remember(self, key: _Key, rv: str | None) -> None:
        if rv is None:
            return
        if len(self._recent) >= RECENT:
            self._recent_set.discard(self._recent.popleft())
        self._recent.append((key, rv))
        self._recent_set.add((key, rv))

    def _pin(self, key: _Key, obj: kinds.Resource | None) -> None:
        """Reads of `key` answer `obj` (the caller gives it up) until the watch delivers
        its version; None: they ask the store until the watch delivers the key's
        deletion."""
        with self._lock:
            if key[0] not in self._synced:
                return
            pins = self._pins[key[0]]
            if obj is None:  # deleted: wait for the deletion if the cache may have it
                if key in self._objects or key in pins:
                    held = pins.get(key)
                    version = held.resource_version if held is not None else None
                    pending = version if version is not None and held and held.obj else None
                    pins[key] = _Pin(None, None, deleted_after=pending)
                return
            rv = obj.metadata.resource_version
            if rv is None or (key, rv) in self._recent_set:
                return  # already delivered: the cache has it or something newer
            pins[key] = _Pin(rv, obj)
            self._written[(key, rv)] = obj
            if self.guard:
                self._written_texts[(key, rv)] = objects.dumps(obj)

    def _forget_written(self, written: tuple[_Key, str]) -> kinds.Resource | None:
        """The object written as `written` (key, resourceVersion), if the cache wrote it;
        it is delivered (or relisted) now. Guard: changed by a reader meanwhile?"""
        obj = self._written.pop(written, None)
        text = self._written_texts.pop(written, None)
        if obj is not None and text is not None and objects.dumps(obj) != text:
            self.changed.append(written[0])
        return obj

    # --- shared reads (reconcilers) -----------------------------------------------------

    def peek(self, kind: str, namespace: str, name: str) -> kinds.Resource:
        """The object itself, shared: never change it. Raises NotFound."""
        key = (kind, namespace, name)
        with self._lock:
            if kind in self._synced:
                pin = self._pins[kind].get(key)
                if pin is None:
                    obj = self._objects.get(key)
                    if obj is None:
                        invalid = self._invalid.get(key)
                        if invalid is not None:
                            raise errors.Undecodable(invalid)
                        raise errors.NotFound(f"{kind} {namespace}/{name} not found")
                    return obj
                if pin.obj is not None:
                    return pin.obj
        return self.inner.get(kind, namespace, name)

    def peek_list(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        labels: Mapping[str, str] | None = None,
    ) -> builtins.list[kinds.Resource]:
        """The objects themselves, shared: never change them. Sorted like `list`."""
        with self._lock:
            if kind not in self._synced:
                return self.inner.list(kind, namespace, labels=labels).items
            if labels:
                candidates = self._by_label.get((kind, *next(iter(labels.items()))), {})
            else:
                candidates = self._kinds[kind]
            pins = self._pins[kind]
            items = [
                obj
                for key in candidates
                if key not in pins and objects.matches(obj := self._objects[key], namespace, labels)
            ]
            items += [
                pin.obj
                for pin in pins.values()
                if pin.obj is not None and objects.matches(pin.obj, namespace, labels)
            ]
            pinned = [  # deleted through the cache, not delivered yet: the store says
                key
                for key, pin in pins.items()
                if pin.obj is None
                and (namespace is None or key[1] == namespace)
                and (not labels or key in candidates)
            ]
        if len(pinned) > _MANY_PINS:
            return self.inner.list(kind, namespace, labels=labels).items
        for key in pinned:
            try:
                obj = self.inner.get(*key)
            except errors.NotFound:
                continue
            if objects.matches(obj, namespace, labels):
                items.append(obj)
        items.sort(key=lambda o: (o.metadata.namespace or "", o.metadata.name))
        return items

    # --- the Store protocol -------------------------------------------------------------

    def get(self, kind: str, namespace: str, name: str) -> kinds.Resource:
        objects.kind_of(kind)
        return _copy(self.peek(kind, namespace, name))

    def list(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        labels: Mapping[str, str] | None = None,
    ) -> port.Listed:
        return self.inner.list(kind, namespace, labels=labels)

    def create(self, obj: kinds.Resource) -> kinds.Resource:
        return _copy(self.create_shared(obj))

    def update(self, obj: kinds.Resource) -> kinds.Resource:
        return _copy(self.update_shared(obj))

    def update_status(self, obj: kinds.Resource) -> kinds.Resource:
        return _copy(self.update_status_shared(obj))

    # --- shared writes (reconcilers) ----------------------------------------------------

    def create_shared(self, obj: kinds.Resource) -> kinds.Resource:
        """Create; the object as stored, shared with the cache: never change it."""
        created = self.inner.create(obj)
        self._pin(port.key_of(created), created)
        return created

    def update_shared(self, obj: kinds.Resource) -> kinds.Resource:
        """Update; the object as stored, shared with the cache: never change it."""
        return self._write(obj, self.inner.update)

    def update_status_shared(self, obj: kinds.Resource) -> kinds.Resource:
        """Update the status; the object as stored, shared with the cache: never change it.

        When `obj` is a cached object with a new status (`model_copy(update=…)`: the same
        metadata and spec objects) and the store can write quietly, the object is not
        read back: the stored object is the cached one with `obj`'s status and the new
        resourceVersion (the precondition held). `obj.status` becomes shared."""
        quiet, held = self._quiet, self._held(obj)
        if quiet is None or held is None:
            return self._write(obj, self.inner.update_status)

        def write(new: kinds.Resource) -> kinds.Resource:
            written = _with_status(held, new, quiet.update_status_version(new))
            if self.guard:  # not read back: is it what the store has?
                self._verify(written)
            return written

        return self._write(obj, write)

    def _held(self, obj: kinds.Resource) -> kinds.Resource | None:
        """The object the cache answers for `obj`'s key, if `obj` is it with another
        status (the same resourceVersion, metadata and spec)."""
        key = port.key_of(obj)
        rv = obj.metadata.resource_version
        with self._lock:
            pin = self._pins[key[0]].get(key)
            held = self._objects.get(key) if pin is None else pin.obj
        if (
            held is None
            or rv is None
            or held.metadata.resource_version != rv
            or held.metadata is not obj.metadata
            or getattr(held, "spec", None) is not getattr(obj, "spec", None)
        ):
            return None
        return held

    def _verify(self, written: kinds.Resource) -> None:
        """Guard: a status written quietly is what the store holds (its JSON round trip
        is itself), unless the store has moved on."""
        key = port.key_of(written)
        try:
            stored = self.inner.get(*key)
        except errors.NotFound:
            return
        same_version = stored.metadata.resource_version == written.metadata.resource_version
        if same_version and objects.dumps(stored) != objects.dumps(written):
            with self._lock:
                self.changed.append(key)

    def _write(self, obj: kinds.Resource, write: _Write) -> kinds.Resource:
        key = port.key_of(obj)
        try:
            written = write(obj)
        except errors.Conflict:
            try:
                self._pin(key, self.inner.get(*key))
            except errors.NotFound:
                self._pin(key, None)
            raise
        self._pin(key, written)
        return written

    def update_invalid_status(self, obj: port.InvalidObject, status: Mapping[str, Any]) -> str:
        """Write the status of an object that does not decode; until the watch delivers
        the write, reads of it raise with the record written (its new resourceVersion
        and status), so that a second look does not write again. A Conflict makes reads
        answer what the store has (as for `update_status`)."""
        key = obj.key
        try:
            rv = self.inner.update_invalid_status(obj, status)
        except errors.Conflict:  # the retry reads what the store has, not this record
            try:
                self._pin(key, self.inner.get(*key))
            except errors.Undecodable as exc:
                with self._lock:
                    if key in self._invalid:
                        self._invalid[key] = exc.object
            except errors.NotFound:
                self._pin(key, None)
            raise
        with self._lock:
            held = self._invalid.get(key)
            if (
                held is not None
                and held.metadata.resource_version == obj.metadata.resource_version
                and (key, rv) not in self._recent_set
            ):
                meta = obj.metadata.model_copy(update={"resource_version": rv})
                self._invalid[key] = dataclasses.replace(obj, metadata=meta, status=dict(status))
        return rv

    def delete(self, kind: str, namespace: str, name: str) -> None:
        self.inner.delete(kind, namespace, name)
        self._pin((kind, namespace, name), None)

    def watch(self, kind: str, *, since: str, timeout: float) -> Iterator[port.WatchEvent]:
        return self.inner.watch(kind, since=since, timeout=timeout)

    def close(self) -> None:
        self.inner.close()


def _with_status(
    held: kinds.Resource, new: kinds.Resource, resource_version: str
) -> kinds.Resource:
    """`held` with `new`'s status at `resource_version`: what a status write stored."""
    meta = held.metadata.model_copy(update={"resource_version": resource_version})
    return held.model_copy(update={"metadata": meta, "status": new.status})  # type: ignore[union-attr]


def _copy(obj: kinds.Resource) -> kinds.Resource:
    """A copy sharing nothing with `obj` (a JSON round trip: pydantic's fastest)."""
    return objects.loads(obj.kind, objects.dumps(obj))
