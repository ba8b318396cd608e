"""Pure rules every store applies to objects: defaults on create, what an update may
change, when the generation moves, label selection, (de)serialisation.

Stores (`memory`, `sqlite`) call these so they agree by construction; they only add
where the bytes live and how writes are made atomic. `updated` and `status_updated`
work on the stored JSON (parsed into plain dicts, the written object dumped as
`dumps` would): parsing the stored object into a model — its validators included —
would cost several times more, on every write.

Pure; no I/O. Time and resourceVersions are passed in.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pydantic
import pydantic_core

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


def _check_precondition(key: tuple[str, str, str], stored_rv: object, obj: kinds.Resource) -> None:
    """Raise `Conflict` when `obj` was read before the stored version."""
    wanted = obj.metadata.resource_version
    if wanted is not None and wanted != stored_rv:
        kind, namespace, name = key
        raise errors.Conflict(
            f"{kind} {namespace}/{name} changed since it was read"
            f" (resourceVersion {wanted}, now {stored_rv})"
        )


def _as_json(model: pydantic.BaseModel) -> dict[str, Any]:
    """The model as `dumps` writes it, as a dict."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def _encode(data: dict[str, Any]) -> str:
    return pydantic_core.to_json(data).decode()  # compact, like `dumps`; 4× json.dumps


def updated(stored: str, obj: kinds.Resource, *, resource_version: str) -> str:
    """`obj`'s metadata and spec over the stored object's status and identity (uid,
    creation and deletion timestamps; given and returned as stored JSON); generation +1
    on a spec change."""
    data = pydantic_core.from_json(stored)
    meta = data["metadata"]
    key = port.key_of(obj)
    _check_precondition(key, meta.get("resourceVersion"), obj)
    new = _as_json(obj)
    generation = meta.get("generation") or 1
    if new.get("spec") != data.get("spec"):
        generation += 1
    new_meta = new["metadata"]
    # the store's, not the caller's: as on a cluster, no update sets deletionTimestamp
    for field in (
        "namespace",
        "name",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ):
        if field in meta:
            new_meta[field] = meta[field]
        else:
            new_meta.pop(field, None)
    new_meta["resourceVersion"] = resource_version
    new_meta["generation"] = generation
    if kind_of(key[0]).has_status:
        if "status" in data:
            new["status"] = data["status"]
        else:
            new.pop("status", None)
    return _encode(new)


def status_updated(stored: str, obj: kinds.Resource, *, resource_version: str) -> str:
    """The stored object with `obj`'s status (given and returned as stored JSON); nothing
    else changes."""
    key = port.key_of(obj)
    if not kind_of(key[0]).has_status:
        raise errors.Invalid(f"{key[0]} has no status")
    data = pydantic_core.from_json(stored)
    meta = data["metadata"]
    _check_precondition(key, meta.get("resourceVersion"), obj)
    data["status"] = _as_json(obj.status)  # type: ignore[union-attr]
    meta["resourceVersion"] = resource_version
    return _encode(data)


def matches(obj: kinds.Resource, namespace: str | None, labels: Mapping[str, str] | None) -> bool:
    """True when `obj` is in `namespace` (any when None) and carries every label given."""
    if namespace is not None and obj.metadata.namespace != namespace:
        return False
    return not labels or all(obj.metadata.labels.get(k) == v for k, v in labels.items())
