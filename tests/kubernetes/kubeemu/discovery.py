"""Discovery documents: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/<g>`, `/apis/<g>/<v>`.

Built from the `Registry` at request time, so a CRD is discoverable from the request
after it was created. The answers are the legacy (non-aggregated) documents —
`APIVersions`, `APIGroupList`, `APIGroup`, `APIResourceList` — with
`Content-Type: application/json` even when a client asks for aggregated discovery
(`as=APIGroupDiscoveryList`): kubectl and client-go check the content type and fall
back to the legacy documents, as against an apiserver that predates aggregation.
Each resource entry has name, singularName, namespaced, kind, verbs, shortNames and
categories, and a `<plural>/status` entry when the type has the subresource.

OpenAPI v3 is served for the custom resources only, which is what `kubectl explain`
reads: `/openapi/v3` lists one path per served CRD group/version, and
`/openapi/v3/apis/<group>/<version>` holds each kind's `openAPIV3Schema` as the
apiserver publishes it (`components.schemas["<reversed group>.<version>.<Kind>"]` with
`x-kubernetes-group-version-kind`), and get/put/patch operations whose write
parameters include `fieldValidation`: from that kubectl knows the server validates,
so `kubectl apply` (default `--validate=strict`) sends `fieldValidation=Strict` and
needs no schema of its own. The built-in types have no OpenAPI document
(`/openapi/v2` answers 404): kubectl writes of built-ins need `--validate=false`
(it would validate them client-side), which is how the tests drive them.

Pure; called by `api.py`.
"""

from __future__ import annotations

import copy
from typing import Any

from kubeemu import resources

__all__ = [
    "api_group",
    "api_group_list",
    "api_versions",
    "openapi_v3_document",
    "openapi_v3_paths",
    "resource_list",
    "version_info",
]

KUBERNETES_VERSION = ("1", "32", "v1.32.0-kubeemu")


def version_info() -> dict[str, Any]:
    major, minor, git = KUBERNETES_VERSION
    return {
        "major": major,
        "minor": minor,
        "gitVersion": git,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.23.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group(name: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(registry: resources.Registry) -> dict[str, Any]:
    groups = registry.group_versions()
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group(name, groups[name]) for name in sorted(groups) if name],
    }


def api_group(registry: resources.Registry, name: str) -> dict[str, Any] | None:
    versions = registry.group_versions().get(name)
    if not name or not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}


def _entry(rt: resources.ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    return entry


def resource_list(registry: resources.Registry, group: str, version: str) -> dict[str, Any] | None:
    """The APIResourceList of one group/version (`group=""`: core), None when not served."""
    found = sorted(
        (rt for rt in registry.all() if (rt.group, rt.version) == (group, version)),
        key=lambda rt: rt.plural,
    )
    if not found:
        return None
    entries = []
    for rt in found:
        entries.append(_entry(rt))
        if rt.status_subresource:
            entries.append(
                {
                    "name": f"{rt.plural}/status",
                    "singularName": "",
                    "namespaced": rt.namespaced,
                    "kind": rt.kind,
                    "verbs": list(resources.STATUS_VERBS),
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": entries,
    }


def _custom(registry: resources.Registry) -> list[resources.ResourceType]:
    return [rt for rt in registry.all() if rt.custom and rt.schema is not None]


# What kubectl looks for to trust the server with validation (`fieldValidation` on the
# PATCH operation of the kind): then it sends `fieldValidation=Strict` and validates
# nothing itself.
_WRITE_PARAMETERS = [
    {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
    for name in ("dryRun", "fieldManager", "fieldValidation")
]


def openapi_v3_paths(registry: resources.Registry) -> dict[str, Any]:
    """The OpenAPI v3 index: one entry per group/version that serves a custom resource."""
    paths = {}
    for rt in _custom(registry):
        path = f"apis/{rt.group}/{rt.version}"
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}"}
    return {"paths": dict(sorted(paths.items()))}


def openapi_v3_document(
    registry: resources.Registry, group: str, version: str
) -> dict[str, Any] | None:
    """The OpenAPI v3 document of one group/version of custom resources, None if none."""
    schemas, paths = {}, {}
    for rt in _custom(registry):
        if (rt.group, rt.version) != (group, version):
            continue
        gvk = {"group": group, "version": version, "kind": rt.kind}
        schema = copy.deepcopy(rt.schema.openapi)
        schema["x-kubernetes-group-version-kind"] = [gvk]
        name = ".".join([*reversed(group.split(".")), version, rt.kind])
        schemas[name] = schema
        scope = "namespaces/{namespace}/" if rt.namespaced else ""
        answer = {
            "200": {
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}
                }
            }
        }
        paths[f"/apis/{group}/{version}/{scope}{rt.plural}/{{name}}"] = {
            verb: {
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
                "responses": answer,
                **({"parameters": _WRITE_PARAMETERS} if verb != "get" else {}),
            }
            for verb, action in (("get", "get"), ("put", "put"), ("patch", "patch"))
        }
    if not schemas:
        return None
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes CRD Swagger", "version": "v0.1.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }
