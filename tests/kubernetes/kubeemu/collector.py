"""Deletion as the apiserver and the garbage collector do it: the apiserver's half
(`delete`, `finalize`) and the collector, a worker thread that applies `gc.sweep`.

The apiserver's half, called by `writes.py` under the store lock:

- `delete(gr, obj, policy)` — the propagation policy's finalizer is set
  (`Foreground` → `foregroundDeletion`, `Orphan` → `orphan`, `Background` removes
  both; no policy given keeps what the object has). An object left with finalizers
  is not removed: it gets `deletionTimestamp` and `deletionGracePeriodSeconds: 0`
  (and its generation +1, as the apiserver does), a MODIFIED event, and is returned
  with `removed=False`. One being deleted already is returned as it is. Otherwise
  it is removed (DELETED) at once; what it owns goes later, by the collector.
- `finalize(gr, new)` — an update of an object being deleted that removes its last
  finalizer removes it instead (one DELETED event, as the apiserver does).

The collector (`start`/`stop`, `pause`/`resume`): after a write that can give it
work (a removal, an object being deleted, one naming an owner removed or being
deleted — so a child made again under an owner deleted in the foreground is
collected too) it waits `delay`
seconds (coalescing what else is written meanwhile), then, under the store lock,
applies `gc.sweep` rounds until one has nothing to do: owner references stripped
(an update), dependents deleted with `delete`, `foregroundDeletion`/`orphan`
finalizers removed (then the object is removed if no finalizer is left). So a test
can see the window in which a deleted owner's dependents still exist; paused, it
collects nothing until resumed.

Namespaces and CRDs are not deleted here (`writes.py` takes their contents at once).
"""

from __future__ import annotations

import copy
import datetime
import logging
import threading
from collections.abc import Callable
from typing import Any

from kubeemu import errors, gc, objects, storage

__all__ = ["Collector"]

log = logging.getLogger(__name__)

_MAX_ROUNDS = 1000  # a sweep that never settles is a bug: stop rather than spin


class Collector:
    """The apiserver's deletion rules and the garbage collector's worker."""

    def __init__(
        self,
        *,
        store: storage.Store,
        clock: Callable[[], datetime.datetime],
        delay: float,
        stopping: threading.Event,
    ) -> None:
        if delay < 0:
            raise ValueError("gc_delay must be >= 0")
        self.store = store
        self.clock = clock
        self.delay = delay
        self._stopping = stopping
        self._paused = False
        self._deleting: set[str] = set()  # uids being deleted at the last sweep
        self._thread = threading.Thread(target=self._run, name="kubeemu-gc", daemon=True)

    # --- the apiserver's half (the caller holds the store lock) ----------------------

    def delete(
        self,
        gr: storage.GroupResource,
        old: dict[str, Any],
        policy: str | None,
        *,
        dry_run: bool = False,
    ) -> tuple[dict[str, Any], bool]:
        """Delete `old` with `policy`: (the object, whether it was removed)."""
        meta = old["metadata"]
        if meta.get("deletionTimestamp"):
            return old, False
        finalizers = list(meta.get("finalizers") or [])
        wanted = {"Foreground": gc.FOREGROUND, "Orphan": gc.ORPHAN}.get(policy or "")
        if policy is not None:
            finalizers = [f for f in finalizers if f not in (gc.FOREGROUND, gc.ORPHAN)]
            if wanted is not None:
                finalizers.append(wanted)
        if not finalizers:
            if dry_run:
                return old, True
            removed = self.store.remove(gr, meta.get("namespace") or "", meta["name"])
            assert removed is not None
            return removed, True
        marked = copy.deepcopy(old)
        mark = marked["metadata"]
        mark["finalizers"] = finalizers
        mark["deletionTimestamp"] = objects.format_time(self.clock())
        mark["deletionGracePeriodSeconds"] = 0
        if isinstance(mark.get("generation"), int):
            mark["generation"] += 1
        if dry_run:
            return marked, False
        return self.store.replace(gr, marked), False

    def finalize(self, gr: storage.GroupResource, new: dict[str, Any]) -> dict[str, Any] | None:
        """An update to `new` of an object being deleted that leaves no finalizer is its
        removal instead (the update is not stored: one DELETED event); the removed
        object, else None (store the update)."""
        meta = new["metadata"]
        if not meta.get("deletionTimestamp") or meta.get("finalizers"):
            return None
        return self.store.remove(gr, meta.get("namespace") or "", meta["name"])

    # --- the collector ---------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> bool:
        """Wait for the worker to end (the emulator set `stopping` and closed the
        store); whether it did."""
        with self.store.locked():
            self.store.locked().notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def pause(self) -> None:
        """Collect nothing until `resume` (owners still get deleted, dependents stay)."""
        with self.store.locked():
            self._paused = True

    def resume(self) -> None:
        with self.store.locked():
            self._paused = False
            self.store.locked().notify_all()

    def _done(self) -> bool:
        return self._stopping.is_set() or self.store.closed

    def _run(self) -> None:
        seen = -1
        cond = self.store.locked()
        while not self._done():
            with cond:
                while not self._done() and (self._paused or not self._news(seen)):
                    seen = max(seen, self.store.resource_version) if not self._paused else seen
                    cond.wait(1.0)
            if self._done() or self._stopping.wait(self.delay):
                return
            with cond:
                if not self._paused:
                    try:
                        self.collect()
                    except Exception:  # a bug must not stop collection for good
                        log.exception("kubeemu garbage collection failed")
                    seen = self.store.resource_version

    def _news(self, seen: int) -> bool:
        """Whether a write after `seen` can give the collector work: a removal, an
        object being deleted, or one naming an owner removed or being deleted (the
        store lock is held)."""
        if self.store.resource_version == seen:
            return False
        if seen < 0:
            return True
        try:
            events = self.store.events_after(seen, timeout=0)
        except errors.Expired:
            return True
        gone = self.store.gone
        named = gone.keys() | self._deleting
        for event in events:
            meta = event.obj["metadata"]
            if event.type == "DELETED" or meta.get("deletionTimestamp"):
                return True
            refs = meta.get("ownerReferences") or []
            if any(isinstance(r, dict) and str(r.get("uid")) in named for r in refs):
                return True
        return False

    def collect(self) -> None:
        """Sweep until nothing is left to do (the caller may hold the store lock)."""
        with self.store.locked():
            for _ in range(_MAX_ROUNDS):
                everything = self.store.snapshot()
                work = gc.sweep(everything, self.store.gone)
                if not work:
                    self._deleting = {
                        str(o["metadata"].get("uid"))
                        for _, o in everything
                        if o["metadata"].get("deletionTimestamp")
                    }
                    return
                self._apply(work)

    def _current(self, ref: gc.Ref, uid: str) -> dict[str, Any] | None:
        obj = self.store.get(ref.group_resource, ref.namespace, ref.name)
        return obj if obj is not None and obj["metadata"].get("uid") == uid else None

    def _apply(self, work: gc.Sweep) -> None:
        for ref, uid, owners in work.strip:
            obj = self._current(ref, uid)
            if obj is None:
                continue
            meta = obj["metadata"]
            refs = [r for r in meta.get("ownerReferences") or [] if r.get("uid") not in owners]
            if refs:
                meta["ownerReferences"] = refs
            else:
                meta.pop("ownerReferences", None)
            self.store.replace(ref.group_resource, obj)
        for ref, uid, policy in work.delete:
            obj = self._current(ref, uid)
            if obj is not None:
                self.delete(ref.group_resource, obj, policy)
        for ref, uid, finalizer in work.finish:
            obj = self._current(ref, uid)
            if obj is None:
                continue
            meta = obj["metadata"]
            kept = [f for f in meta.get("finalizers") or [] if f != finalizer]
            if kept:
                meta["finalizers"] = kept
                self.store.replace(ref.group_resource, obj)
            else:  # as the apiserver does: the update that empties them is the delete
                self.store.remove(ref.group_resource, ref.namespace, ref.name)
