"""The CRDs explain themselves: a description on every field, one category for all kinds."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import pytest

from rollout.api import crds, kinds, podschema


def _fields(node: dict[str, Any], path: str, pod_depth: int | None) -> Iterator[tuple[str, Any]]:
    """(path, schema) of every field below `node`, except the pod spec's fields deeper than
    `podschema.DESCRIBED_DEPTH` (their descriptions are left out on purpose: size)."""
    for name, child in (node.get("properties") or {}).items():
        where = f"{path}.{name}"
        depth = None if pod_depth is None else pod_depth + 1
        if depth is None or depth <= podschema.DESCRIBED_DEPTH:
            yield where, child
        if where.endswith(".template.spec") and pod_depth is None:
            depth = 0  # the pod spec: Kubernetes' own descriptions, down to DESCRIBED_DEPTH
        yield from _fields(child, where, depth)
    for key, mark in (("items", "[]"), ("additionalProperties", "{}")):
        if isinstance(node.get(key), dict):
            deeper = pod_depth if key == "items" or pod_depth is None else pod_depth + 1
            yield from _fields(node[key], path + mark, deeper)


@functools.cache
def _crd(kind_name: str) -> dict[str, Any]:
    return crds.crd(kinds.KINDS[kind_name])


@pytest.mark.parametrize("kind_name", sorted(kinds.KINDS))
def test_every_field_has_a_description(kind_name: str) -> None:
    """Every field under spec and status has a description (what `kubectl explain`
    prints); in the pod template, down to the depth podschema keeps."""
    root = _crd(kind_name)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert root["description"]
    fields = [
        item
        for top in ("spec", "status")
        if top in root["properties"]
        for item in [(top, root["properties"][top]), *_fields(root["properties"][top], top, None)]
    ]
    missing = [path for path, field in fields if not field.get("description")]
    assert missing == []


@pytest.mark.parametrize("kind_name", sorted(kinds.KINDS))
def test_every_kind_is_in_the_rollout_category(kind_name: str) -> None:
    """`kubectl get rollout` lists every kind of ours."""
    assert _crd(kind_name)["spec"]["names"]["categories"] == ["rollout"]
