"""The values handlers pass around, and the helpers both read and write handlers share.

`Request` (what the server read), the outcomes — `Response` (status + JSON body),
`WatchStream` (events to write as they come), `Drop` (an injected timeout: hold,
then close unanswered) — and small shared steps: `present` (a stored object as served
at a version), `parse_body` (JSON or YAML; other media types are 415),
`label_and_fields` (the selectors of a request), and the `NotFound`/`Conflict`/
`Invalid` errors with the apiserver's messages. Pure; used by `api.py`, `reads.py`
and `writes.py`, and by `server.py` for the outcome types.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from kubeemu import errors, resources, routing, selectors

__all__ = [
    "JSON_PATCH",
    "MERGE",
    "STALE",
    "STRATEGIC",
    "Drop",
    "Outcome",
    "Request",
    "Response",
    "WatchStream",
    "conflict",
    "invalid",
    "label_and_fields",
    "namespace_of",
    "not_found",
    "parse_body",
    "present",
]

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
_BODY_TYPES = {
    "",
    "application/json",
    "application/yaml",
    "text/yaml",
    MERGE,
    JSON_PATCH,
    STRATEGIC,
}
STALE = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


@dataclass(frozen=True)
class Request:
    """One HTTP request, as the server read it."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes = b""

    def header(self, name: str) -> str:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return ""

    @property
    def media_type(self) -> str:
        return self.header("Content-Type").split(";")[0].strip().lower()


@dataclass
class Response:
    """A complete answer: status and JSON body."""

    status: int
    body: Any
    content_type: str = "application/json"
    warnings: list[str] = field(default_factory=list)  # `Warning: 299 - "…"` headers


@dataclass
class WatchStream:
    """A streaming answer: JSON watch events (or `watching.DROP`) as they come."""

    events: Iterator[Any]
    status: int = 200


@dataclass
class Drop:
    """An injected timeout: hold the connection `hold_s` seconds, then close it unanswered."""

    hold_s: float
    status: int = field(default=0)


Outcome = Response | WatchStream | Drop


def invalid(rt: resources.ResourceType, name: str, causes: list[errors.Cause]) -> errors.Invalid:
    parts = [f"{c.field}: {c.message}" for c in causes]
    joined = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    return errors.Invalid(
        f'{rt.qualified_kind} "{name}" is invalid: {joined}',
        name=name,
        group=rt.group,
        kind=rt.kind,
        causes=causes,
    )


def not_found(rt: resources.ResourceType, name: str) -> errors.NotFound:
    return errors.NotFound(
        f'{rt.qualified_plural} "{name}" not found', name=name, group=rt.group, kind=rt.plural
    )


def conflict(rt: resources.ResourceType, name: str, why: str) -> errors.Conflict:
    return errors.Conflict(
        f'Operation cannot be fulfilled on {rt.qualified_plural} "{name}": {why}',
        name=name,
        group=rt.group,
        kind=rt.plural,
    )


def present(rt: resources.ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    """A stored object as served at `rt`'s version (sets apiVersion and kind, and a
    custom resource's schema defaults, in place: as read from etcd)."""
    obj["apiVersion"] = rt.api_version
    obj["kind"] = rt.kind
    if rt.custom and rt.schema is not None:
        rt.schema.default(obj)
    return obj


def parse_body(req: Request) -> Any:
    """The request body as JSON (or YAML); 415 for other media types, 400 when malformed."""
    if req.media_type not in _BODY_TYPES:
        raise errors.UnsupportedMedia(
            f"the body of the request was in an unknown format ({req.media_type}) - accepted"
            " media types include: application/json, application/yaml"
        )
    if not req.body.strip():
        raise errors.BadRequest("the request has no body")
    try:
        if req.media_type in ("application/yaml", "text/yaml"):
            return yaml.safe_load(req.body)
        return json.loads(req.body)
    except (ValueError, yaml.YAMLError) as exc:
        raise errors.BadRequest(f"the request body is not valid JSON: {exc}") from exc


def label_and_fields(
    req: Request, info: routing.RequestInfo
) -> tuple[selectors.LabelSelector, selectors.FieldSelector]:
    """The request's label and field selectors (a name in the URL pins metadata.name)."""
    label = selectors.parse_label_selector(req.query.get("labelSelector", ""))
    field_text = req.query.get("fieldSelector", "")
    if info.name:
        field_text = ",".join(t for t in (field_text, f"metadata.name={info.name}") if t)
    fields = selectors.parse_field_selector(field_text, group=info.group, resource=info.resource)
    return label, fields


def namespace_of(rt: resources.ResourceType, info: routing.RequestInfo) -> str:
    """The storage namespace of a request's object ("" for cluster-scoped types)."""
    return info.namespace if rt.namespaced else ""
