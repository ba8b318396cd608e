"""Server-side printing: `meta.k8s.io/v1 Table` answers for `kubectl get`.

kubectl asks for `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`; the answer
has `columnDefinitions` and one row per object with `cells` and (by default,
`includeObject=Metadata`) the object's `PartialObjectMetadata`, from which kubectl
takes the NAMESPACE column for `-A`.

Columns: `Name`, then a custom resource version's `additionalPrinterColumns` (when
it declares none, `Age` on `.metadata.creationTimestamp`, as the apiserver does);
built-ins get `Name` and `Age`. Cells are computed like the apiserver's CRD table
convertor: a simple JSONPath (`.a.b`, `.a[0].b`, `.a['x.y']`,
`.a[?(@.type=="Ready")].status`, first match), `string` columns print any value,
`integer`/`number`/`boolean` keep typed values (else empty), and `date` columns
become an age like `5s`, `3m20s`, `2d` (Go's `duration.HumanDuration`). A path that
finds nothing gives an empty cell.

Pure: `now` is passed in. Called by `api.py`.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterable
from typing import Any

from kubeemu import resources

__all__ = ["human_duration", "jsonpath_first", "negotiated", "partial_metadata", "table"]

_NAME_COLUMN = {
    "name": "Name",
    "type": "string",
    "format": "name",
    "description": "Name must be unique within a namespace.",
    "priority": 0,
}
_AGE = resources.PrinterColumn(
    name="Age",
    type="date",
    json_path=".metadata.creationTimestamp",
    description="CreationTimestamp is a timestamp representing the server time when this"
    " object was created.",
)
_MISSING = object()
_STEP = re.compile(
    r"""\.(?P<field>[A-Za-z0-9_\-/]+)
      | \[(?P<index>-?\d+|\*)\]
      | \[['"](?P<quoted>[^'"]+)['"]\]
      | \[\?\(@\.(?P<fkey>[A-Za-z0-9_.\-]+)\s*==\s*(?P<fval>"[^"]*"|'[^']*'|[^)\s]+)\)\]
    """,
    re.VERBOSE,
)


def negotiated(accept: str, kind: str) -> str | None:
    """The meta.k8s.io version (`v1`, `v1beta1`) an Accept header asks `as=<kind>` in."""
    for media in accept.split(","):
        params = dict(p.strip().split("=", 1) for p in media.split(";")[1:] if "=" in p)
        wanted = params.get("as") == kind and params.get("g") == "meta.k8s.io"
        if wanted and params.get("v") in ("v1", "v1beta1"):
            return params["v"]
    return None


def jsonpath_first(obj: Any, path: str) -> Any:
    """The first value a simple JSONPath finds in `obj`, or `None`."""
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    text = text.removeprefix("$")
    nodes = [obj]
    pos = 0
    while pos < len(text):
        match = _STEP.match(text, pos)
        if match is None:
            return None
        pos = match.end()
        nxt: list[Any] = []
        for node in nodes:
            if match.group("field") is not None or match.group("quoted") is not None:
                key = match.group("field") or match.group("quoted")
                if isinstance(node, dict) and key in node:
                    nxt.append(node[key])
            elif match.group("index") is not None:
                if isinstance(node, list):
                    if match.group("index") == "*":
                        nxt.extend(node)
                    elif -len(node) <= int(match.group("index")) < len(node):
                        nxt.append(node[int(match.group("index"))])
            else:
                want = match.group("fval").strip("\"'")
                for item in node if isinstance(node, list) else []:
                    value = jsonpath_first(item, "." + match.group("fkey"))
                    if value is not None and _text(value) == want:
                        nxt.append(item)
        nodes = nxt
    return nodes[0] if nodes else None


def human_duration(seconds: float) -> str:
    """Go's `duration.HumanDuration`: `0s`, `45s`, `3m20s`, `15m`, `5h3m`, `2d4h`, `3y`."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        years, days = hours // 24 // 365, (hours // 24) % 365
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{hours // 24 // 365}y"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _cell(column: resources.PrinterColumn, obj: dict[str, Any], now: datetime.datetime) -> Any:
    value = jsonpath_first(obj, column.json_path)
    if value is None:
        return None
    if column.type == "string":
        return _text(value)
    if column.type == "integer":
        return (
            int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
        )
    if column.type == "number":
        return value if isinstance(value, int | float) and not isinstance(value, bool) else None
    if column.type == "boolean":
        return value if isinstance(value, bool) else None
    if column.type == "date" and isinstance(value, str):
        try:
            when = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return "<invalid>"
        return human_duration((now - when).total_seconds())
    return None


def _columns(rt: resources.ResourceType) -> tuple[resources.PrinterColumn, ...]:
    return rt.printer_columns or (_AGE,)


def partial_metadata(obj: dict[str, Any], version: str = "v1") -> dict[str, Any]:
    """An object's `PartialObjectMetadata` (what metadata-only clients receive)."""
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": f"meta.k8s.io/{version}",
        "metadata": obj.get("metadata", {}),
    }


def table(
    rt: resources.ResourceType,
    objects: Iterable[dict[str, Any]],
    *,
    now: datetime.datetime,
    resource_version: str,
    include_object: str = "Metadata",
    version: str = "v1",
) -> dict[str, Any]:
    """A `meta.k8s.io` Table of `objects` (already in `rt`'s apiVersion)."""
    columns = _columns(rt)
    definitions = [dict(_NAME_COLUMN)] + [
        {
            "name": c.name,
            "type": c.type,
            "format": c.format,
            "description": c.description,
            "priority": c.priority,
        }
        for c in columns
    ]
    rows = []
    for obj in objects:
        row: dict[str, Any] = {
            "cells": [obj["metadata"]["name"], *(_cell(c, obj, now) for c in columns)]
        }
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = partial_metadata(obj, version)
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": f"meta.k8s.io/{version}",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows,
    }
