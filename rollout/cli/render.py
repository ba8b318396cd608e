"""Turning resources into what the CLI prints: printer-column tables, JSON, YAML.

The columns are the kinds registry's (the same as `kubectl get` shows for the CRDs);
`jsonpath` evaluates the small subset they use: `.a.b` and
`.list[?(@.field=="value")].field`.

Pure; no I/O. Called by `get`, `history` and `status`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from rollout.api import condition, kinds, revision

__all__ = ["age", "as_data", "dump", "jsonpath", "notices", "table"]

_FILTER = re.compile(r'^(\w+)\[\?\(@\.(\w+)=="([^"]*)"\)\]$')
# One step of a path: a name, with its `[...]` filter (whose `@.field` has a dot in it).
_PART = re.compile(r"[^.\[]+(?:\[[^\]]*\])?")


def as_data(obj: kinds.Resource) -> dict[str, Any]:
    data: dict[str, Any] = obj.model_dump(by_alias=True, exclude_none=True, mode="json")
    return data


def jsonpath(data: Any, path: str) -> Any:
    """The value at a printer-column JSONPath, or None."""
    current = data
    for part in _PART.findall(path):
        if current is None:
            return None
        match = _FILTER.match(part)
        if match:
            field, key, value = match.groups()
            items = current.get(field) if isinstance(current, dict) else None
            found = (i for i in items or [] if isinstance(i, dict) and str(i.get(key)) == value)
            current = next(found, None) if isinstance(items, list) else None
        else:
            current = current.get(part) if isinstance(current, dict) else None
    return current


def age(then: datetime | str | None, now: datetime) -> str:
    if then is None:
        return ""
    at = datetime.fromisoformat(then) if isinstance(then, str) else then
    seconds = max(int((now - at).total_seconds()), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns separated by three spaces, kubectl style."""
    cells = [[str(h).upper() for h in headers]] + [
        ["" if c is None else str(c) for c in row] for row in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join(
        "   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells
    )


def resource_table(
    kind: kinds.Kind,
    objs: Sequence[kinds.Resource],
    now: datetime,
    *,
    cells: Mapping[tuple[str, str], Any] | None = None,
) -> str:
    """The printer columns of `objs`; `cells`: (object name, column name) → the value
    to show instead of the column's (`get services`' READY)."""
    columns = [c for c in kind.columns if c.priority == 0]
    rows = []
    for obj in objs:
        data = as_data(obj)
        row: list[Any] = [obj.metadata.name]
        for column in columns:
            value = jsonpath(data, column.json_path)
            if cells is not None and (obj.metadata.name, column.name) in cells:
                value = cells[obj.metadata.name, column.name]
            row.append(age(value, now) if column.type == "date" else value)
        rows.append(row)
    return table(["Name", *(c.name for c in columns)], rows)


def notices(objs: Sequence[kinds.Resource]) -> list[str]:
    """`web-00001: IgnoredOnLocal: volumes, nodeSelector` for each True condition of a
    Revision besides Ready: what its runtime says about it (printed under the table)."""
    return [
        f"{obj.metadata.name}: {c.type}: {c.message}"
        for obj in objs
        if isinstance(obj, revision.Revision)
        for c in obj.status.conditions
        if c.type not in _NOT_NOTICES and c.status is condition.ConditionStatus.TRUE
    ]


# Conditions that are not what the runtime says about a revision: its readiness, and
# Active (replicas run for it: the normal state, in the ACTIVE column).
_NOT_NOTICES = {condition.ConditionType.READY, condition.ConditionType.ACTIVE}


def dump(data: Any, output: str) -> str:
    if output == "json":
        return json.dumps(data, indent=2)
    import yaml  # only for -o yaml: 15 ms of every other command's start

    return yaml.safe_dump(data, sort_keys=False).rstrip()
