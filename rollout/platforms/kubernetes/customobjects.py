"""Our resources as the API server holds them (custom objects of the `rollout.dev`
CRDs): where each kind lives, and our models ↔ the JSON bodies it speaks.

An object the API server holds that our model refuses (the CRD schema cannot say
everything `rollout validate` checks: percents that sum to 140, duplicate tags…) does
not decode: `from_body` raises `errors.Undecodable` with who it is and why, and
`from_bodies` sets such objects apart, so one of them never fails a list.

Pure; no I/O, no client import. Called by the store (`store.py`) and its watch feed
(`feed.py`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from rollout.api import kinds, meta
from rollout.platforms.kubernetes import refs
from rollout.store import errors, objects, port

__all__ = ["from_bodies", "from_body", "key_of", "ref", "to_body"]

_META_KEYS = frozenset(field.alias or name for name, field in meta.ObjectMeta.model_fields.items())


def ref(kind: str) -> refs.Ref:
    """Where objects of `kind` (e.g. "Revision") live; raises the store's error for a
    kind we do not have."""
    return refs.Ref(kinds.GROUP, kinds.VERSION, objects.kind_of(kind).plural)


def to_body(obj: kinds.Resource) -> dict[str, Any]:
    """The object as the API server takes it (camelCase JSON, no nulls)."""
    body: dict[str, Any] = json.loads(objects.dumps(obj))
    return body


def from_body(kind: str, body: Mapping[str, Any]) -> kinds.Resource:
    """An object from the API server as our model; metadata fields we do not model
    (`selfLink`, `generateName`, …) are left out, everything else must validate
    (`errors.Undecodable` otherwise)."""
    data = dict(body)
    data["metadata"] = {k: v for k, v in dict(body.get("metadata", {})).items() if k in _META_KEYS}
    if data["metadata"].get("managedFields") is None:
        data["metadata"].pop("managedFields", None)
    return objects.loads(kind, json.dumps(data), key=key_of(kind, body))


def from_bodies(
    kind: str, bodies: Iterable[Mapping[str, Any]]
) -> tuple[list[kinds.Resource], list[port.InvalidObject]]:
    """The objects as our models, and apart (in order) those that do not decode."""
    items: list[kinds.Resource] = []
    invalid: list[port.InvalidObject] = []
    for body in bodies:
        try:
            items.append(from_body(kind, body))
        except errors.Undecodable as exc:
            invalid.append(exc.object)
    return items, invalid


def key_of(kind: str, body: Mapping[str, Any]) -> tuple[str, str, str]:
    """(kind, namespace, name) of an object as the API server sent it."""
    metadata = body.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    return (kind, str(metadata.get("namespace") or ""), str(metadata.get("name") or ""))
