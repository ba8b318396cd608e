"""The pod template's spec in the CRDs: a structural schema made from Kubernetes' own.

`pod_spec()` turns `io.k8s.api.core.v1.PodSpec` of `podspec.definitions()` — the same
Kubernetes 1.32 schema `rollout validate` checks templates against — into the
structural OpenAPI v3 schema a CustomResourceDefinition needs, so that `kubectl
explain rsvc.spec.template.spec.containers` answers as for a Deployment, and the API
server prunes and type-checks the template as it would a Deployment's:

- `$ref`s are inlined (the pod spec's definitions hold no cycle);
- `type: [x, "null"]` becomes `type: x`, without `nullable`: like the API server for a
  Deployment, a null in an optional field is dropped, not stored;
- `Quantity` and `IntOrString` become `x-kubernetes-int-or-string` (a quantity also
  gets its pattern: `cpu: lots` is refused by the CRD too), as controller-gen writes
  them (Argo Rollouts' CRDs) but without its `anyOf` (the marker alone means the same
  to the API server, and the CRDs stay free of unions);
- an embedded `ObjectMeta` (an ephemeral volume's claim template) keeps its fields
  (`x-kubernetes-preserve-unknown-fields`): a CRD may constrain only name and
  generateName of a `metadata`;
- `format: int32` / `int64` get their bounds (`minimum`, `maximum`): every integer of
  every CRD has a maximum, as Go's decoder has; ports and probe timings get the
  bounds the API server checks in Go (`containerPort` 1–65535; `podspec`'s probe
  minimums);
- `x-kubernetes-list-type: map` is kept where the API server accepts it on a CRD
  (every key required in the items: not for `ports`, whose `protocol` is optional),
  `set` only on scalar items, `atomic` and `x-kubernetes-map-type` always; the
  strategic-merge-patch markers and `x-kubernetes-unions` are not CRD fields and go;
- `additionalProperties: false` (the strict schema's) goes: a structural schema
  prunes instead, and `rollout validate` refuses unknown fields first.

Descriptions are kept down to `DESCRIBED_DEPTH` levels below the pod spec (a PodSpec
field is level 1, a container's field level 2, a probe's field level 3): the whole
pod spec with every description does not fit in the 256 KiB annotation that a
client-side `kubectl apply` writes (docs/decisions.md, "Pod templates in the CRD").

Pure; reads the packaged schema once (through `podspec`). Called by `crds`.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from rollout.api import podspec

__all__ = ["DESCRIBED_DEPTH", "pod_spec"]

#: How many levels below the pod spec keep their descriptions.
DESCRIBED_DEPTH = 3

_PREFIX = "#/$defs/"
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]"
    r"|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
# Bounds the API server enforces in Go (and `podspec` before it), written into the CRD.
_GO_BOUNDS: dict[str, dict[str, tuple[int, int]]] = {
    "io.k8s.api.core.v1.ContainerPort": {"containerPort": (1, 65535), "hostPort": (0, 65535)},
    "io.k8s.api.core.v1.Probe": {
        field: (minimum, 2**31 - 1) for field, minimum in podspec.PROBE_MINIMUMS.items()
    },
}
_KEPT = ("format", "enum", "pattern", "minimum", "maximum", "minItems", "maxItems")


def pod_spec(*, described_depth: int = DESCRIBED_DEPTH) -> dict[str, Any]:
    """The structural schema of a Kubernetes `PodSpec`, with descriptions down to
    `described_depth` levels (a fresh copy: no node shared)."""
    return copy.deepcopy(_pod_spec(described_depth))


@functools.cache
def _pod_spec(described_depth: int) -> dict[str, Any]:
    return _node({"$ref": f"{_PREFIX}{podspec.POD_SPEC}"}, depth=0, described=described_depth)


def _definition(ref: str) -> tuple[str, dict[str, Any]]:
    name = ref.removeprefix(_PREFIX)
    found: dict[str, Any] = podspec.definitions()["$defs"][name]
    return name, found


def _node(schema: dict[str, Any], *, depth: int, described: int) -> dict[str, Any]:
    """One node at `depth` levels below the pod spec (described down to `described`)."""
    keep = depth <= described
    description = schema.get("description")
    if "$ref" in schema:
        name, target = _definition(schema["$ref"])
        special = _special(name)
        found = special if special is not None else _node(target, depth=depth, described=described)
        for field, (low, high) in _GO_BOUNDS.get(name, {}).items():
            found["properties"][field].update(minimum=low, maximum=high)
        # The field's own description says more than its type's.
        if description and keep:
            found = {"description": _text(description), **_without(found, "description")}
        return found
    out: dict[str, Any] = {}
    if description and keep:
        out["description"] = _text(description)
    kinds = schema.get("type")
    kind = next((k for k in kinds if k != "null"), None) if isinstance(kinds, list) else kinds
    if kind is not None:
        out["type"] = kind
    for key in _KEPT:
        if key in schema:
            out[key] = copy.deepcopy(schema[key])
    bounds = podspec.FORMAT_BOUNDS.get(schema.get("format", ""))
    if kind == "integer" and bounds:
        out.setdefault("minimum", bounds[0])
        out.setdefault("maximum", bounds[1])
    properties = schema.get("properties")
    if properties:
        out["properties"] = {
            k: _node(v, depth=depth + 1, described=described) for k, v in properties.items()
        }
    if schema.get("required"):
        out["required"] = list(schema["required"])
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict):
        out["additionalProperties"] = _node(additional, depth=depth + 1, described=described)
    if isinstance(schema.get("items"), dict):
        out["items"] = _node(schema["items"], depth=depth, described=described)
    out.update(_list_markers(schema, out.get("items")))
    if "x-kubernetes-map-type" in schema:
        out["x-kubernetes-map-type"] = schema["x-kubernetes-map-type"]
    return out


def _special(name: str) -> dict[str, Any] | None:
    if name == _QUANTITY:
        return {**_int_or_string(), "pattern": _QUANTITY_PATTERN}
    if name == _INT_OR_STRING:
        return _int_or_string()
    if name == _OBJECT_META:
        return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return None


def _int_or_string() -> dict[str, Any]:
    return {"x-kubernetes-int-or-string": True}


def _list_markers(schema: dict[str, Any], items: dict[str, Any] | None) -> dict[str, Any]:
    """The list-type markers the API server accepts on a CRD for these items."""
    list_type = schema.get("x-kubernetes-list-type")
    if list_type is None or items is None:
        return {}
    if list_type == "map":
        keys = list(schema.get("x-kubernetes-list-map-keys") or [])
        if keys and set(keys) <= set(items.get("required") or ()):
            return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": keys}
        return {}
    if list_type == "set" and items.get("type") in ("object", "array", None):
        return {}
    return {"x-kubernetes-list-type": list_type}


def _without(schema: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k != key}


def _text(description: str) -> str:
    return " ".join(description.split())
