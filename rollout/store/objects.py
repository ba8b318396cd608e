"""Pure rules every store applies to objects: defaults on create, what an update may
change, when the generation moves, label selection, (de)serialisation — and what a
stored object that no longer decodes is (`undecodable`: a `port.InvalidObject` with
the message `rollout validate` would give; `load_each` sets such objects apart so a
list never fails for one).

Stores (`memory`, `sqlite`) call these so they agree by construction; they only add
where the bytes live and how writes are made atomic. `updated` and `status_updated`
work on the stored JSON (parsed into plain dicts, the written object dumped as
`dumps` would): parsing the stored object into a model — its validators included —
would cost several times more, on every write.

Pure; no I/O. Time and resourceVersions are passed in.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pydantic
import pydantic_core

from rollout.api import base, kinds, meta
from rollout.store import errors, port

__all__ = [
    "created",
    "dumps",
    "invalid_status_updated",
    "kind_of",
    "load_each",
    "loads",
    "matches",
    "status_updated",
    "uid_of",
    "undecodable",
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


STORED = {base.STORED: True}
"""The validation context of an object read back from a store that only rollout writes,
each object checked in full when written (the SQLite store): validators may skip what
costs (`workload.PodTemplate` skips the pod spec's OpenAPI check: loading that schema is
0.07 s of every CLI call). The memory store stands in for a cluster in tests, where
objects change behind the store's back: it reads without it, in full."""


def loads(
    kind: str,
    text: str | bytes,
    *,
    key: tuple[str, str, str] | None = None,
    context: Mapping[str, Any] | None = None,
) -> kinds.Resource:
    """A stored object back as its model; `errors.Undecodable` when it does not decode
    (`key`: where it is stored, for an object whose own metadata cannot say)."""
    try:
        model = kind_of(kind).model
        obj: kinds.Resource = model.model_validate_json(text, context=context)  # type: ignore[assignment]
    except pydantic.ValidationError as exc:
        raise undecodable(kind, text, exc, key=key) from exc
    return obj


def uid_of(stored: str | bytes) -> str:
    """The uid of a stored object, from its JSON (whether or not it decodes)."""
    try:
        data = pydantic_core.from_json(stored)
        uid = data["metadata"]["uid"]
    except (ValueError, KeyError, TypeError):
        return ""
    return uid if isinstance(uid, str) else ""


def load_each(
    kind: str,
    texts: Sequence[str | bytes],
    keys: Sequence[tuple[str, str, str]],
    *,
    context: Mapping[str, Any] | None = None,
) -> tuple[list[kinds.Resource], list[port.InvalidObject]]:
    """Stored objects (at `keys`) as models, and apart those that do not decode (in
    order)."""
    items: list[kinds.Resource] = []
    invalid: list[port.InvalidObject] = []
    for text, key in zip(texts, keys, strict=True):
        try:
            items.append(loads(kind, text, key=key, context=context))
        except errors.Undecodable as exc:
            invalid.append(exc.object)
    return items, invalid


def undecodable(
    kind: str,
    stored: str | bytes | Mapping[str, Any],
    error: pydantic.ValidationError,
    *,
    key: tuple[str, str, str] | None = None,
) -> errors.Undecodable:
    """The error for a stored object (its JSON, or the JSON parsed) that failed to
    decode with `error`: who it is, as far as its metadata says (`key` otherwise), its
    stored status, and what `rollout validate` would say of it."""
    data: Any = stored
    if isinstance(stored, str | bytes):
        try:
            data = pydantic_core.from_json(stored)
        except ValueError:
            data = None
    if not isinstance(data, Mapping):
        data = {}
    status = data.get("status")
    obj = port.InvalidObject(
        kind=kind,
        metadata=_identity(data.get("metadata"), key),
        message=_why(data, error),
        status=dict(status) if isinstance(status, Mapping) else {},
    )
    return errors.Undecodable(obj)


def _why(data: Mapping[str, Any], error: pydantic.ValidationError) -> str:
    """`rollout validate`'s words for the document: `FIELD.PATH: message; …`."""
    from rollout.api import documents  # only for an object that no longer decodes: it loads YAML

    _, found = documents.validate_data(dict(data)) if data else (None, [])
    if found:
        lines = [(documents.format_loc(p.loc), p.message) for p in found]
    else:  # JSON that is no document, or a rule of the JSON mode only: pydantic's words
        lines = [
            (documents.format_loc(tuple(e["loc"])), str(e["msg"]))
            for e in error.errors(include_url=False)
        ]
    return "; ".join(f"{where}: {message}" if where else message for where, message in lines)


def _identity(raw: Any, key: tuple[str, str, str] | None) -> meta.ObjectMeta:
    """The stored metadata as far as it decodes: all of it, else the identity fields
    that do (else `key`'s namespace and name)."""
    raw = raw if isinstance(raw, Mapping) else {}
    try:
        return meta.ObjectMeta.model_validate(raw)
    except pydantic.ValidationError:
        pass
    fields: dict[str, Any] = {"name": ""}
    if key is not None:
        fields |= {"namespace": key[1], "name": key[2]}
    for alias, name in _IDENTITY:
        value = raw.get(alias)
        if value is None or (key is not None and name in ("namespace", "name")):
            continue
        try:  # each alone, so that one bad field loses only itself
            checked = meta.ObjectMeta.model_validate({"name": "x", alias: value})
        except pydantic.ValidationError:
            continue
        fields[name] = getattr(checked, name)
    return meta.ObjectMeta.model_construct(**fields)


_IDENTITY = (
    ("namespace", "namespace"),
    ("name", "name"),
    ("uid", "uid"),
    ("resourceVersion", "resource_version"),
    ("generation", "generation"),
)


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
    _precondition(key, stored_rv, obj.metadata.resource_version)


def _precondition(key: tuple[str, str, str], stored_rv: object, wanted: str | None) -> None:
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
    status = _as_json(obj.status)  # type: ignore[union-attr]
    return _with_status(stored, key, obj.metadata.resource_version, status, resource_version)


def invalid_status_updated(
    stored: str, obj: port.InvalidObject, status: Mapping[str, Any], *, resource_version: str
) -> str:
    """The stored object (that does not decode: `obj`) with `status` (JSON); nothing else
    changes. The precondition is `obj`'s resourceVersion."""
    key = obj.key
    if not kind_of(key[0]).has_status:
        raise errors.Invalid(f"{key[0]} has no status")
    return _with_status(stored, key, obj.metadata.resource_version, status, resource_version)


def _with_status(
    stored: str,
    key: tuple[str, str, str],
    wanted: str | None,
    status: Mapping[str, Any],
    resource_version: str,
) -> str:
    data = pydantic_core.from_json(stored)
    metadata = data["metadata"]
    _precondition(key, metadata.get("resourceVersion"), wanted)
    data["status"] = dict(status)
    metadata["resourceVersion"] = resource_version
    return _encode(data)


def matches(obj: kinds.Resource, namespace: str | None, labels: Mapping[str, str] | None) -> bool:
    """True when `obj` is in `namespace` (any when None) and carries every label given."""
    if namespace is not None and obj.metadata.namespace != namespace:
        return False
    return not labels or all(obj.metadata.labels.get(k) == v for k, v in labels.items())
