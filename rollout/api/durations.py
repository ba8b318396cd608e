"""Durations as users write them: `500ms`, `15s`, `2m`, `1h`, `1h30m`.

A `Duration` field holds a `datetime.timedelta` in Python and is written back in the
shortest unit form (`90s` → `1m30s`). Plain numbers are refused: `interval: 15` is
ambiguous (seconds? minutes?), so the error asks for a unit.

Pure; no I/O.
"""

from __future__ import annotations

import functools
import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

__all__ = [
    "DURATION_PATTERN",
    "Duration",
    "PositiveDuration",
    "format_duration",
    "parse_duration",
]

_UNITS_MS = {"h": 3_600_000, "m": 60_000, "s": 1_000, "ms": 1}
_MAX_MS = 10 * 365 * 24 * _UNITS_MS["h"]  # ten years: longer is a typo
_PART = re.compile(r"(\d+)(ms|h|m|s)")
DURATION_PATTERN = r"^(\d+(ms|h|m|s))+$"
_WHOLE = re.compile(DURATION_PATTERN)


@functools.lru_cache(maxsize=1024)
def parse_duration(text: str) -> timedelta:
    """Parse `1h30m`, `15s`, `500ms` into a timedelta; ValueError on anything else.

    Memoized: every stored policy snapshot is parsed again on each read of its Release,
    always with the same few texts (timedelta is immutable)."""
    text = text.strip()
    if not _WHOLE.match(text):
        raise ValueError(f"{text!r} is not a duration: write it like 500ms, 15s, 2m or 1h")
    millis = sum(int(n) * _UNITS_MS[unit] for n, unit in _PART.findall(text))
    if millis > _MAX_MS:
        raise ValueError(
            f"{text!r} is too long for a duration: at most {_MAX_MS // _UNITS_MS['h']}h"
        )
    return timedelta(milliseconds=millis)


def format_duration(value: timedelta) -> str:
    """Write a timedelta in the form `parse_duration` reads, largest units first."""
    millis = round(value.total_seconds() * 1000)
    if millis == 0:
        return "0s"
    parts = []
    for unit in ("h", "m", "s", "ms"):
        count, millis = divmod(millis, _UNITS_MS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _validate(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, str):
        raise PydanticCustomError(
            "duration", "must be a duration with a unit, like 500ms, 15s, 2m or 1h"
        )
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise PydanticCustomError("duration", str(exc)) from None


Duration = Annotated[
    timedelta,
    BeforeValidator(_validate),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN}),
]


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise PydanticCustomError("duration", "must be longer than 0s")
    return value


PositiveDuration = Annotated[
    timedelta,
    BeforeValidator(_validate),
    AfterValidator(_positive),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN}),
]
