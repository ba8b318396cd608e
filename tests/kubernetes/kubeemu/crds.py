"""CustomResourceDefinitions: defaulting, validation, status, and the types they serve.

A CRD written through the API (POST/PUT/PATCH of `apiextensions.k8s.io/v1
customresourcedefinitions`, e.g. by `kubectl apply`) is checked by `crd_causes`, its
names defaulted by `default_crd` and its status computed by `crd_status` (the
apiserver's `NamesAccepted`/`Established` conditions, `acceptedNames`,
`storedVersions` — set at once rather than by a controller a moment later). Then
`resource_types(crd)` gives one `ResourceType` per served version, which `api.py`
puts in the `Registry`: the resource is served (and discoverable) from the next
request on. Deleting the CRD deletes its objects (`api.py`).

Pure: no I/O, no shared state.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema

from kubeemu import cel, errors, resources, schema

__all__ = ["crd_causes", "crd_status", "default_crd", "resource_types"]

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def default_crd(crd: dict[str, Any]) -> None:
    """Fill the names the apiserver defaults (singular, listKind), in place."""
    names = crd.setdefault("spec", {}).setdefault("names", {})
    if isinstance(names.get("kind"), str):
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", names["kind"] + "List")
    crd["spec"].setdefault("conversion", {"strategy": "None"})


def crd_causes(crd: dict[str, Any]) -> list[errors.Cause]:
    """Everything that makes a CRD invalid (empty list: valid)."""
    causes: list[errors.Cause] = []

    def bad(field: str, message: str, reason: str = "FieldValueInvalid") -> None:
        causes.append(errors.Cause(field, message, reason))

    spec = crd.get("spec")
    if not isinstance(spec, dict):
        bad("spec", "Required value", "FieldValueRequired")
        return causes
    group = spec.get("group")
    names = spec.get("names") or {}
    plural = names.get("plural")
    if not isinstance(group, str) or "." not in group:
        bad("spec.group", f'Invalid value: "{group}": should be a domain with at least one dot')
    if not isinstance(plural, str) or not _DNS_LABEL.match(plural):
        bad("spec.names.plural", f'Invalid value: "{plural}": a lowercase RFC 1123 label')
    if not isinstance(names.get("kind"), str) or not names.get("kind"):
        bad("spec.names.kind", "Required value", "FieldValueRequired")
    name = (crd.get("metadata") or {}).get("name")
    if isinstance(group, str) and isinstance(plural, str) and name != f"{plural}.{group}":
        bad(
            "metadata.name",
            f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
        )
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        bad(
            "spec.scope",
            f'Unsupported value: "{spec.get("scope")}": supported values: "Cluster", "Namespaced"',
            "FieldValueNotSupported",
        )
    versions = spec.get("versions")
    if not isinstance(versions, list) or not versions:
        bad("spec.versions", "Required value: must have exactly one version marked as storage")
        return causes
    if sum(1 for v in versions if isinstance(v, dict) and v.get("storage")) != 1:
        bad("spec.versions", "Invalid value: must have exactly one version marked as storage")
    seen: set[str] = set()
    for n, version in enumerate(versions):
        where = f"spec.versions[{n}]"
        if not isinstance(version, dict) or not isinstance(version.get("name"), str):
            bad(f"{where}.name", "Required value", "FieldValueRequired")
            continue
        if version["name"] in seen:
            bad(f"{where}.name", f'Duplicate value: "{version["name"]}"', "FieldValueDuplicate")
        seen.add(version["name"])
        openapi = ((version.get("schema") or {}).get("openAPIV3Schema")) or None
        if openapi is None:
            bad(f"{where}.schema.openAPIV3Schema", "Required value", "FieldValueRequired")
            continue
        try:
            schema.compile_schema(openapi)
        except (jsonschema.SchemaError, cel.RuleError, TypeError, AttributeError) as exc:
            bad(f"{where}.schema.openAPIV3Schema", f"Invalid value: {exc}")
    return causes


def crd_status(crd: dict[str, Any], now: str, previous: dict[str, Any] | None) -> dict[str, Any]:
    """The status the apiserver's CRD controllers converge to for a valid CRD."""
    spec = crd["spec"]
    names = {k: v for k, v in spec["names"].items() if v not in (None, [], "")}
    stored = list((previous or {}).get("storedVersions") or [])
    storage = next(v["name"] for v in spec["versions"] if v.get("storage"))
    if storage not in stored:
        stored.append(storage)
    old_conditions = {c.get("type"): c for c in (previous or {}).get("conditions") or []}

    def condition(kind: str, reason: str, message: str) -> dict[str, Any]:
        since = old_conditions.get(kind, {}).get("lastTransitionTime", now)
        return {
            "type": kind,
            "status": "True",
            "lastTransitionTime": since,
            "reason": reason,
            "message": message,
        }

    return {
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition(
                "Established", "InitialNamesAccepted", "the initial names have been accepted"
            ),
        ],
        "acceptedNames": names,
        "storedVersions": stored,
    }


def _columns(version: dict[str, Any]) -> tuple[resources.PrinterColumn, ...]:
    return tuple(
        resources.PrinterColumn(
            name=str(c.get("name", "")),
            type=str(c.get("type", "string")),
            json_path=str(c.get("jsonPath", "")),
            format=str(c.get("format", "")),
            description=str(c.get("description", "")),
            priority=int(c.get("priority", 0) or 0),
        )
        for c in version.get("additionalPrinterColumns") or []
    )


def resource_types(crd: dict[str, Any]) -> list[resources.ResourceType]:
    """One `ResourceType` per served version of a valid, defaulted CRD."""
    spec = crd["spec"]
    names = spec["names"]
    out = []
    for version in spec["versions"]:
        if not version.get("served", True):
            continue
        out.append(
            resources.ResourceType(
                group=spec["group"],
                version=version["name"],
                plural=names["plural"],
                singular=names.get("singular") or names["kind"].lower(),
                kind=names["kind"],
                namespaced=spec["scope"] == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                status_subresource="status" in (version.get("subresources") or {}),
                tracks_generation=True,
                returns_deleted_object=True,
                custom=True,
                storage=bool(version.get("storage")),
                printer_columns=_columns(version),
                schema=schema.compile_schema(version["schema"]["openAPIV3Schema"]),
            )
        )
    return out
