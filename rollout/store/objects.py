"""Pure rules every store applies to objects: defaults on create, what an update may
change, when the generation moves, label selection, (de)serialisation.

Stores (`memory`, `sqlite`) call these so they agree by construction; they only add
where the bytes live and how writes are made atomic.

Pure; no I/O. Time and resourceVersions are passed in.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

import pydantic

from rollout.api import kinds
from rollout.store import errors, port

__all__ = [
    "created",
    "dumps",
    "kind_of",
    "loads",
    "matches",
    "status_updated",
    "updated",
]


def kind_of(name: str) -> kinds.Kind:
    """The registered kind called exactly `name` (`Service`, `Release`, …)."""
    kind = kinds.KINDS.get(name)
    if kind is None:
        raise errors.Invalid(f"unknown kind {name!r}; known: {', '.join(kinds.KINDS)}")
    return kind


def dumps(obj: kinds.Resource) -> str:
    """The object as JSON with camelCase keys, the way it is stored."""
    return obj.model_dump_json(by_alias=True, exclude_none=True)


def loads(kind: str, text: str | bytes) -> kinds.Resource:
    """A stored object back as its model."""
    try:
        obj: kinds.Resource = kind_of(kind).model.model_validate_json(text)  # type: ignore[assignment]
    except pydantic.ValidationError as exc:
        raise errors.Invalid(f"stored {kind} is not valid: {exc}") from exc
    return obj


def created(obj: kinds.Resource, *, resource_version: str, now: datetime) -> kinds.Resource:
    """The object as `create` stores it: uid, resourceVersion, generation 1, timestamp."""
    kind_of(obj.kind)
    meta = obj.metadata.model_copy(
        update={
            "namespace": obj.metadata.namespace or port.DEFAULT_NAMESPACE,
            "uid": str(uuid.uuid4()),
            "resource_version": resource_version,
            "generation": 1,
            "creation_timestamp": now,
            "deletion_timestamp": None,
        }
    )
    return obj.model_copy(update={"metadata": meta})


def check_precondition(stored: kinds.Resource, obj: kinds.Resource) -> None:
    """Raise `Conflict` when `obj` was read before the stored version."""
    wanted = obj.metadata.resource_version
    if wanted is not None and wanted != stored.metadata.resource_version:
        kind, namespace, name = port.key_of(stored)
        raise errors.Conflict(
            f"{kind} {namespace}/{name} changed since it was read"
            f" (resourceVersion {wanted}, now {stored.metadata.resource_version})"
        )


def updated(
    stored: kinds.Resource, obj: kinds.Resource, *, resource_version: str
) -> kinds.Resource:
    """`obj`'s metadata and spec over `stored`'s status and identity; generation +1 on a
    spec change."""
    check_precondition(stored, obj)
    generation = stored.metadata.generation or 1
    if obj.spec != stored.spec:
        generation += 1
    meta = obj.metadata.model_copy(
        update={
            "namespace": stored.metadata.namespace,
            "name": stored.metadata.name,
            "uid": stored.metadata.uid,
            "creation_timestamp": stored.metadata.creation_timestamp,
            "resource_version": resource_version,
            "generation": generation,
        }
    )
    update: dict[str, object] = {"metadata": meta}
    if kind_of(stored.kind).has_status:
        update["status"] = stored.status  # type: ignore[union-attr]
    return obj.model_copy(update=update)


def status_updated(
    stored: kinds.Resource, obj: kinds.Resource, *, resource_version: str
) -> kinds.Resource:
    """`stored` with `obj`'s status; nothing else changes."""
    if not kind_of(stored.kind).has_status:
        raise errors.Invalid(f"{stored.kind} has no status")
    check_precondition(stored, obj)
    meta = stored.metadata.model_copy(update={"resource_version": resource_version})
    return stored.model_copy(update={"metadata": meta, "status": obj.status})  # type: ignore[union-attr]


def matches(obj: kinds.Resource, namespace: str | None, labels: Mapping[str, str] | None) -> bool:
    """True when `obj` is in `namespace` (any when None) and carries every label given."""
    if namespace is not None and obj.metadata.namespace != namespace:
        return False
    return not labels or all(obj.metadata.labels.get(k) == v for k, v in labels.items())
