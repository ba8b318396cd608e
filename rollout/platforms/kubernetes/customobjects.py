"""Our resources as the API server holds them (custom objects of the `rollout.dev`
CRDs): where each kind lives, and our models ↔ the JSON bodies it speaks.

Pure; no I/O, no client import. Called by the store (`store.py`) and its watch feed
(`feed.py`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rollout.api import kinds, meta
from rollout.platforms.kubernetes import refs
from rollout.store import objects

__all__ = ["from_body", "ref", "to_body"]

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
    (`selfLink`, `generateName`, …) are left out, everything else must validate."""
    data = dict(body)
    data["metadata"] = {k: v for k, v in dict(body.get("metadata", {})).items() if k in _META_KEYS}
    if data["metadata"].get("managedFields") is None:
        data["metadata"].pop("managedFields", None)
    return objects.loads(kind, json.dumps(data))
