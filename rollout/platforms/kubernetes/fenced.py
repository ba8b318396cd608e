"""A Store that refuses writes while this replica is not the leader.

`Fenced(store, may_write)` passes reads through and checks `may_write()` before each
write (create, update, update_status, update_invalid_status, delete); when it says
no, the write is not sent and `StoreError` is raised (the controller requeues the key;
a replica that lost its lease is stopping anyway). With leader election on, this is
what makes "at no time do two replicas reconcile" hold for writes even when a
reconcile is still running at the moment the lease runs out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from rollout.api import kinds
from rollout.store import errors, port

__all__ = ["Fenced"]


class Fenced:
    def __init__(self, store: port.Store, may_write: Callable[[], bool]) -> None:
        self._store = store
        self._may_write = may_write

    def _check(self, what: str) -> None:
        if not self._may_write():
            raise errors.StoreError(f"{what}: refused, this replica does not hold the lease")

    def get(self, kind: str, namespace: str, name: str) -> kinds.Resource:
        return self._store.get(kind, namespace, name)

    def list(
        self, kind: str, namespace: str | None = None, *, labels: Mapping[str, str] | None = None
    ) -> port.Listed:
        return self._store.list(kind, namespace, labels=labels)

    def create(self, obj: kinds.Resource) -> kinds.Resource:
        self._check(f"create {obj.kind} {obj.metadata.name}")
        return self._store.create(obj)

    def update(self, obj: kinds.Resource) -> kinds.Resource:
        self._check(f"update {obj.kind} {obj.metadata.name}")
        return self._store.update(obj)

    def update_status(self, obj: kinds.Resource) -> kinds.Resource:
        self._check(f"update status of {obj.kind} {obj.metadata.name}")
        return self._store.update_status(obj)

    def update_invalid_status(self, obj: port.InvalidObject, status: Mapping[str, Any]) -> str:
        self._check(f"update status of {obj.kind} {obj.metadata.name}")
        return self._store.update_invalid_status(obj, status)

    def delete(self, kind: str, namespace: str, name: str) -> None:
        self._check(f"delete {kind} {name}")
        self._store.delete(kind, namespace, name)

    def watch(self, kind: str, *, since: str, timeout: float) -> Iterator[port.WatchEvent]:
        return self._store.watch(kind, since=since, timeout=timeout)

    def close(self) -> None:
        self._store.close()
