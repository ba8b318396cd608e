"""CustomResourceDefinitions generated from the resource models.

`crd(kind)` turns a model's JSON schema (pydantic) into a structural OpenAPI v3 schema
as Kubernetes requires: references inlined, `Optional` written as `nullable`, no
titles or defaults (the models apply defaults), `metadata` left to the API server,
`x-kubernetes-int-or-string` kept. Every field has a description (the model field's
docstring; a test checks it), every kind is in the `rollout` category, and the
cross-field checks that fit in CEL are `x-kubernetes-validations` (`crdrules`).
Unknown fields are not expressible in a structural schema: the API server prunes
them, and `rollout validate` rejects them before that.
The pod template's `spec` is Kubernetes' own `PodSpec`, made structural by `podschema`.

`crds/` holds the output of `rollout crds --write crds`; a test fails when it drifts.

Pure; no I/O.
"""

from __future__ import annotations

from typing import Any

import yaml

from rollout.api import crdrules, fielddocs, kinds, podschema, podspec

__all__ = ["CATEGORIES", "crd", "file_name", "render", "structural"]

#: Every kind is in these categories: `kubectl get rollout` lists them all.
CATEGORIES = ("rollout",)

_DROP = {"title", "default", "additionalProperties", "$defs", "examples"}
# A field whose schema is a Kubernetes definition (the pod template's spec).
_KUBERNETES_DEFINITION = "x-rollout-kubernetes-definition"


def crd(kind: kinds.Kind) -> dict[str, Any]:
    """The `apiextensions.k8s.io/v1` CustomResourceDefinition of one kind."""
    schema = fielddocs.json_schema(kind.model, by_alias=True, mode="validation")
    properties = structural(schema, schema.get("$defs", {}))["properties"]
    top: dict[str, Any] = {
        "type": "object",
        "description": " ".join(str(schema.get("description", "")).split()),
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": properties["spec"],
        },
        "required": ["spec"],
    }
    if kind.has_status:
        top["properties"]["status"] = properties["status"]
    if kind.kind in crdrules.ROOT_RULES:
        top["x-kubernetes-validations"] = list(crdrules.ROOT_RULES[kind.kind])
    version: dict[str, Any] = {
        "name": kinds.VERSION,
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": top},
    }
    if kind.has_status:
        version["subresources"] = {"status": {}}
    version["additionalPrinterColumns"] = [
        {
            "name": c.name,
            "type": c.type,
            "jsonPath": c.json_path,
            **({"description": c.description} if c.description else {}),
            **({"priority": c.priority} if c.priority else {}),
        }
        for c in kind.columns
    ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{kind.plural}.{kinds.GROUP}"},
        "spec": {
            "group": kinds.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.singular,
                "shortNames": list(kind.short_names),
                "categories": list(CATEGORIES),
            },
            "versions": [version],
        },
    }


def structural(schema: Any, defs: dict[str, Any]) -> Any:
    """A JSON schema made structural: refs inlined, Optional → nullable, extras dropped."""
    if isinstance(schema, list):
        return [structural(item, defs) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if schema.get(_KUBERNETES_DEFINITION) == podspec.POD_SPEC:
        pod = podschema.pod_spec()
        if schema.get("description"):  # the field's own words first
            pod["description"] = " ".join(schema["description"].split())
        return pod
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        merged = {**defs[name], **{k: v for k, v in schema.items() if k != "$ref"}}
        return _with_rules(name, structural(merged, defs))
    options = schema.get("anyOf")
    if options is not None:
        rest = [o for o in options if o.get("type") != "null"]
        if len(rest) != 1:
            raise ValueError(f"cannot express union in a structural schema: {options}")
        merged = {**rest[0], **{k: v for k, v in schema.items() if k != "anyOf"}}
        if len(rest) != len(options):
            merged["nullable"] = True
        return structural(merged, defs)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROP:
            if key == "additionalProperties" and isinstance(value, dict):
                out[key] = structural(value, defs)
            elif key == "additionalProperties" and value is True:
                out["x-kubernetes-preserve-unknown-fields"] = True
            continue
        if key == "const":
            out["enum"] = [value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            out[key.replace("exclusiveM", "m")] = value
            out[key] = True
        elif key == "description":
            out[key] = " ".join(value.split())
        elif key == "properties":
            out[key] = {name: structural(sub, defs) for name, sub in value.items()}
        else:
            out[key] = structural(value, defs)
    enum = out.get("enum")
    if out.get("type") == "string" and enum and "maxLength" not in out:
        # bounds the API server's CEL cost estimate of rules that read the value
        out["maxLength"] = max(len(str(e)) for e in enum if e is not None)
    return out


def _with_rules(name: str, node: dict[str, Any]) -> dict[str, Any]:
    """The node of model `name` with its CEL rules."""
    if name in crdrules.RULES:
        node["x-kubernetes-validations"] = list(crdrules.RULES[name])
    return node


def file_name(kind: kinds.Kind) -> str:
    return f"{kinds.GROUP}_{kind.plural}.yaml"


def render(kind: kinds.Kind) -> str:
    """The CRD of one kind as YAML text, exactly as committed in `crds/`."""
    header = "# Generated by `rollout crds` from rollout/api; do not edit by hand.\n"
    return header + yaml.safe_dump(crd(kind), sort_keys=False, width=100)
