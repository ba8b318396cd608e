"""URL → request info: which resource, object, subresource and RBAC verb a request is.

Follows the apiserver's `RequestInfoFactory`: `/api/v1/...` is the core group,
`/apis/<group>/<version>/...` the others; `namespaces/<ns>/<plural>[/<name>[/<sub>]]`
or `<plural>[/<name>[/<sub>]]`; `namespaces/<name>/status|finalize` are subresources
of the Namespace itself; a leading `watch/` segment (the deprecated watch paths) or
`?watch=1|true` on a collection make the verb `watch`. The verb is the RBAC verb:
get, list, watch, create, update, patch, delete, deletecollection.

Anything else under `/api` or `/apis` (a group or version document) is discovery,
answered by `discovery.py`. Pure; called by `api.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Discovery", "RequestInfo", "parse"]

_NAMESPACE_SUBRESOURCES = {"status", "finalize"}
_TRUE = {"1", "true", "True"}


@dataclass(frozen=True)
class RequestInfo:
    """A resource request."""

    verb: str
    group: str
    version: str
    resource: str
    subresource: str = ""
    namespace: str = ""
    name: str = ""


@dataclass(frozen=True)
class Discovery:
    """A non-resource request: `path` is the URL path (discovery, /version, openapi, …)."""

    path: str


def parse(method: str, path: str, query: Mapping[str, str]) -> RequestInfo | Discovery | None:
    """Classify a request; None when the path cannot be a resource or discovery URL."""
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] not in ("api", "apis"):
        return Discovery(path)
    if parts[0] == "api":
        if len(parts) < 3:
            return Discovery(path)
        group, version, rest = "", parts[1], parts[2:]
    else:
        if len(parts) < 4:
            return Discovery(path)
        group, version, rest = parts[1], parts[2], parts[3:]
    watch = query.get("watch") in _TRUE
    if rest[0] == "watch":
        watch, rest = True, rest[1:]
        if not rest:
            return None
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
        else:
            namespace = ""
    if len(rest) > 3:
        return None
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    method = method.upper()
    if method == "GET":
        verb = ("watch" if watch else "get") if name else ("watch" if watch else "list")
    elif method == "POST":
        verb = "create"
    elif method == "PUT":
        verb = "update"
    elif method == "PATCH":
        verb = "patch"
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = method.lower()
    return RequestInfo(verb, group, version, resource, subresource, namespace, name)
