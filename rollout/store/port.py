"""The Store port: where resources live, Kubernetes API semantics.

Every implementation (`memory` for tests, `sqlite` for the local platform, the
Kubernetes adapter on a cluster) passes the same contract suite
(`tests/unit/store/test_contract.py`):

- `get`, `list` (namespace, equality label selector) return typed resources
  (`rollout.api.Resource`); `list` also returns the resourceVersion to watch from.
- `create` sets `uid`, `resourceVersion`, `generation` 1 and `creationTimestamp`,
  and defaults the namespace to `default`; a taken name raises `AlreadyExists`.
- `update` writes metadata (labels, annotations, owner references) and spec — never
  status — with a precondition on `metadata.resourceVersion` (stale → `Conflict`;
  `None` → unconditional). `metadata.generation` is bumped when the spec changes, and
  only then.
- `update_status` writes status only, with the same precondition; it never bumps
  the generation.
- `delete` removes the object and, recursively, every object whose owner references
  name its uid (cascade). Deleting a missing object raises `NotFound`.
- `watch(kind, since=rv, timeout=s)` yields `WatchEvent`s of that kind after
  resourceVersion `since`, in order, waiting up to `timeout` seconds for the first
  one (0: only what is already there), and returns; a `since` older than what the
  store keeps raises `Expired` (list again). resourceVersions are opaque strings:
  compare them only for equality, except through the store.

A stored object that does not decode as its kind's model (written by another version,
edited by hand, applied with kubectl past what the CRD schema checks) never breaks a
read of the others: `list` returns it apart, in `Listed.invalid`, as an
`InvalidObject` (its identity, its raw status and the message `rollout validate`
would give, with field paths); `get` of it, and the `object` of a watch event of it,
raise `errors.Undecodable`, which carries the same `InvalidObject`.
`update_invalid_status` writes the status of such an object (the controller's
`InvalidSpec` condition), conditional on its resourceVersion. A typed record apart
from the items, not a marker among them: every reader of `items` keeps reading valid
models only, and the one reader that acts on invalid objects (the controller) asks
for them by name.

Objects returned are copies: changing them changes nothing stored.
Callers: the controller, the reconcilers, the CLI.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol, runtime_checkable

from rollout.api import kinds, meta

__all__ = [
    "DEFAULT_NAMESPACE",
    "EventType",
    "InvalidObject",
    "Listed",
    "QuietStatusWrites",
    "Store",
    "WatchEvent",
    "key_of",
]

DEFAULT_NAMESPACE = "default"


class EventType(enum.StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"


class WatchEvent:
    """One change of one object: its type, the object (for DELETED: as it was last
    stored), the resourceVersion of the change, and the object's `key` (`key_of`).

    A store may give the object as its stored JSON, parsed when `object` is first
    read (`WatchEvent.parsed_later`): a reader that already holds that version — the
    controller's cache, for the writes it made — never pays for parsing it."""

    __slots__ = ("_load", "_object", "key", "resource_version", "type")

    def __init__(self, type: EventType, object: kinds.Resource, resource_version: str) -> None:
        self.type = type
        self.key = key_of(object)
        self.resource_version = resource_version
        self._object: kinds.Resource | None = object
        self._load: Callable[[], kinds.Resource] | None = None

    @classmethod
    def parsed_later(
        cls,
        type: EventType,
        key: tuple[str, str, str],
        resource_version: str,
        load: Callable[[], kinds.Resource],
    ) -> WatchEvent:
        """An event whose object `load()` makes when it is first read (once)."""
        event = cls.__new__(cls)
        event.type = type
        event.key = key
        event.resource_version = resource_version
        event._object = None
        event._load = load
        return event

    @property
    def object(self) -> kinds.Resource:
        """The object; raises `errors.Undecodable` for one that does not decode."""
        if self._object is None:
            assert self._load is not None
            self._object, self._load = self._load(), None
        return self._object

    def __repr__(self) -> str:
        kind, namespace, name = self.key
        return f"WatchEvent({self.type.value} {kind} {namespace}/{name} @{self.resource_version})"


@dataclasses.dataclass(frozen=True)
class InvalidObject:
    """A stored object that does not decode as its kind's model: who it is
    (`metadata`: namespace, name, uid, generation, resourceVersion — and labels, owner
    references, finalizers when those decode), why (`message`: `rollout validate`'s
    `FIELD.PATH: message` lines joined by "; "), and its stored status as JSON
    (`status`, camelCase; empty when it has none) — read it, never change it."""

    kind: str
    metadata: meta.ObjectMeta
    message: str
    status: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.metadata.namespace or DEFAULT_NAMESPACE, self.metadata.name)

    def __str__(self) -> str:
        _, namespace, name = self.key
        return f"{self.kind} {namespace}/{name} is not valid: {self.message}"


@dataclasses.dataclass(frozen=True)
class Listed:
    items: list[kinds.Resource]
    resource_version: str  # watch from here to see every change after this list
    # The objects selected that do not decode (sorted like items): apart, so that one
    # bad object never fails a list of the others.
    invalid: list[InvalidObject] = dataclasses.field(default_factory=list)


def key_of(obj: kinds.Resource) -> tuple[str, str, str]:
    """(kind, namespace, name) of a resource; namespace `default` when unset."""
    return (obj.kind, obj.metadata.namespace or DEFAULT_NAMESPACE, obj.metadata.name)


class Store(Protocol):
    def get(self, kind: str, namespace: str, name: str) -> kinds.Resource: ...

    def list(
        self,
        kind: str,
        namespace: str | None = None,
        *,
        labels: Mapping[str, str] | None = None,
    ) -> Listed: ...

    def create(self, obj: kinds.Resource) -> kinds.Resource: ...

    def update(self, obj: kinds.Resource) -> kinds.Resource: ...

    def update_status(self, obj: kinds.Resource) -> kinds.Resource: ...

    def update_invalid_status(self, obj: InvalidObject, status: Mapping[str, Any]) -> str:
        """Write `status` (JSON, camelCase) as the status of an object that does not
        decode, conditional on `obj.metadata.resourceVersion` (stale → `Conflict`);
        the new resourceVersion."""
        ...

    def delete(self, kind: str, namespace: str, name: str) -> None: ...

    def watch(self, kind: str, *, since: str, timeout: float) -> Iterator[WatchEvent]: ...

    def close(self) -> None: ...


@runtime_checkable
class QuietStatusWrites(Protocol):
    """A Store that can also write a status without handing back the object: the
    memory and SQLite stores, for the controller's cache, which builds the object from
    the one it holds instead of paying for a parse (`rollout.controller.cache`)."""

    def update_status_version(self, obj: kinds.Resource) -> str:
        """`update_status(obj)`, the same in every way, returning only the new
        resourceVersion."""
        ...
