"""Shared building blocks of the resource models: the base model and field types.

Every resource model derives from `ApiModel`: camelCase names on the wire (the
Kubernetes convention), snake_case in Python, and unknown fields are errors so that
a typo such as `setWieght` is reported instead of silently dropped. The string under
a field (its docstring) is its description in the JSON schema, and so in the CRDs
(`kubectl explain`): every field of a resource has one. Numbers and
booleans are strict: YAML `"5"` is not a weight and `1` is not `true`.

Every integer has an upper bound, written into the CRDs too (`maximum`): counts a
user writes are 32-bit as in Kubernetes (`Count`, `PositiveCount`: at most
2147483647); counters and generations the controller writes are 64-bit (`Int`,
`NonNegativeInt`, `PositiveInt`), as JSON integers are in Kubernetes and SQLite.
Text that ends up in a protocol (a header, an argv, a path) is checked with
`text_problem`, which names the first control character it finds.

Pure data; no I/O. Imported by every module of `rollout.api`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Strict, WithJsonSchema
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

__all__ = [
    "CONTROLS",
    "DNS1123_LABEL",
    "DNS1123_SUBDOMAIN",
    "INT32_MAX",
    "INT64_MAX",
    "LINE_BREAKS",
    "NUL",
    "STORED",
    "ApiModel",
    "Bool",
    "Count",
    "Float",
    "Int",
    "Name",
    "NonNegativeInt",
    "Percent",
    "Port",
    "PositiveCount",
    "PositiveInt",
    "Subdomain",
    "checked_text",
    "quoted_scalar",
    "text_check",
    "text_problem",
    "too_large",
    "utf8_size",
]

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)

NUL = "\0"
LINE_BREAKS = "\r\n\0"  # what must never split a header, a path or a name
CONTROLS = "".join(chr(c) for c in (*range(0x20), 0x7F))  # C0 and DEL

_CHARACTER_NAMES = {
    "\0": "NUL (\\0)",
    "\r": "carriage return (\\r)",
    "\n": "line feed (\\n)",
    " ": "space",
}


def text_problem(value: str, forbidden: str) -> str | None:
    """A message naming the first character of `forbidden` in `value`, or None."""
    found = _pattern(forbidden).search(value)
    if found is None:
        return None
    char = found.group()
    name = _CHARACTER_NAMES.get(char) or f"control character U+{ord(char):04X}"
    return f"must not contain a {name} (at character {found.start()})"


@functools.lru_cache(maxsize=16)
def _pattern(chars: str) -> re.Pattern[str]:
    return re.compile(f"[{re.escape(chars)}]")


def utf8_size(value: str) -> int:
    """The size of `value` in UTF-8 bytes (a lone surrogate counts 3, as written)."""
    return len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))


def quoted_scalar(value: object, wanted: str) -> str | None:
    """The message for a number (`wanted` "number") or a boolean (`wanted` "boolean")
    written as a YAML string — `"10"` for 10, `"true"` for true — or None when `value`
    is not one. Like Kubernetes, which refuses a string for an integer field, it is an
    error, with what to write instead: YAML users quote numbers by accident."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if wanted == "boolean":
        if text not in ("true", "false"):
            return None
    else:
        try:
            number = float(text)
        except ValueError:
            return None
        if number != number or number in (float("inf"), float("-inf")):  # nan, inf
            return None
    return f'must be a {wanted}, not a string (write {text}, not "{value}")'


def too_large(size: int, limit: int) -> str:
    """The one wording of every size limit: `too large (N bytes; at most M)`."""
    return f"too large ({size} bytes; at most {limit})"


def text_check(forbidden: str, *, max_bytes: int | None = None) -> Callable[[str], str]:
    """A validator function for text without the characters in `forbidden`, of at most
    `max_bytes`. Its errors never quote the value (it may be a credential)."""

    def check(value: str) -> str:
        problem = text_problem(value, forbidden)
        if problem is not None:
            raise PydanticCustomError("text", "{message}", {"message": problem})
        if max_bytes is not None and (size := utf8_size(value)) > max_bytes:
            message = too_large(size, max_bytes)
            raise PydanticCustomError("too_large", "{message}", {"message": message})
        return value

    return check


def checked_text(forbidden: str, *, max_bytes: int | None = None) -> AfterValidator:
    """`text_check` as field metadata: `Annotated[str, checked_text(LINE_BREAKS)]`."""
    return AfterValidator(text_check(forbidden, max_bytes=max_bytes))


STORED = "stored"
"""The validation-context key set when an object is read back from a store that holds
only what rollout wrote, checked in full (`rollout.store.objects.STORED`)."""


class ApiModel(BaseModel):
    """Base of every resource model: camelCase aliases, unknown fields forbidden, field
    docstrings as descriptions."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        validate_default=False,
        use_enum_values=False,
        ser_json_timedelta="float",
        allow_inf_nan=False,
        defer_build=True,  # validators built on first use: a command pays for the kinds it reads
    )

    # A field's docstring (the string under it) is its description in the JSON schema,
    # hence in the CRDs (`kubectl explain`): `fielddocs.json_schema` fills them in when a
    # schema is asked for — never at class creation, which every CLI call pays.


def _check_dns1123(value: str) -> str:
    # fullmatch: `$` would also match before a final line feed ("web\n").
    if not DNS1123_LABEL.fullmatch(value):
        raise PydanticCustomError(
            "dns1123_label",
            "{value} is not a valid name: use at most 63 lowercase letters, digits"
            " and '-', starting and ending with a letter or digit",
            {"value": repr(value)},
        )
    return value


def _check_subdomain(value: str) -> str:
    if len(value) > 253 or not DNS1123_SUBDOMAIN.fullmatch(value):
        raise PydanticCustomError(
            "dns1123_subdomain",
            "{value} is not a valid name: use at most 253 lowercase letters, digits, '-'"
            " and '.', each part starting and ending with a letter or digit",
            {"value": repr(value)},
        )
    return value


def _check_percent(value: int) -> int:
    if not 0 <= value <= 100:
        raise PydanticCustomError("percent", "must be between 0 and 100")
    return value


def _check_port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise PydanticCustomError("port", "must be a port number between 1 and 65535")
    return value


def _bounds(low: int, high: int) -> Callable[[int], int]:
    def check(value: int) -> int:
        if value < low:
            message = {0: "must be 0 or more", 1: "must be at least 1"}.get(
                low, f"must be at least {low}"
            )
            raise PydanticCustomError("too_small", message)
        if value > high:
            raise PydanticCustomError("too_big", "must be at most {high}", {"high": high})
        return value

    return check


Int = Annotated[
    int,
    Strict(),
    AfterValidator(_bounds(INT64_MIN, INT64_MAX)),
    WithJsonSchema(
        {"type": "integer", "format": "int64", "minimum": INT64_MIN, "maximum": INT64_MAX}
    ),
]
Float = Annotated[float, Strict()]
Bool = Annotated[bool, Strict()]

Name = Annotated[
    str,
    AfterValidator(_check_dns1123),
    WithJsonSchema({"type": "string", "maxLength": 63, "pattern": DNS1123_LABEL.pattern}),
]
# The names of Kubernetes objects that allow dots (Secrets, ConfigMaps).
Subdomain = Annotated[
    str,
    AfterValidator(_check_subdomain),
    WithJsonSchema({"type": "string", "maxLength": 253, "pattern": DNS1123_SUBDOMAIN.pattern}),
]
Percent = Annotated[
    int,
    Strict(),
    AfterValidator(_check_percent),
    WithJsonSchema({"type": "integer", "format": "int32", "minimum": 0, "maximum": 100}),
]
Port = Annotated[
    int,
    Strict(),
    AfterValidator(_check_port),
    WithJsonSchema({"type": "integer", "format": "int32", "minimum": 1, "maximum": 65535}),
]
# Counters and positions the controller keeps (requests seen, restarts, step index):
# 64-bit, so that a long release at high traffic never overflows its own status.
PositiveInt = Annotated[
    int,
    Strict(),
    AfterValidator(_bounds(1, INT64_MAX)),
    WithJsonSchema({"type": "integer", "format": "int64", "minimum": 1, "maximum": INT64_MAX}),
]
NonNegativeInt = Annotated[
    int,
    Strict(),
    AfterValidator(_bounds(0, INT64_MAX)),
    WithJsonSchema({"type": "integer", "format": "int64", "minimum": 0, "maximum": INT64_MAX}),
]
# Counts a user writes (limits, retries, replicas, probe seconds): int32, as in Kubernetes.
Count = Annotated[
    int,
    Strict(),
    AfterValidator(_bounds(0, INT32_MAX)),
    WithJsonSchema({"type": "integer", "format": "int32", "minimum": 0, "maximum": INT32_MAX}),
]
PositiveCount = Annotated[
    int,
    Strict(),
    AfterValidator(_bounds(1, INT32_MAX)),
    WithJsonSchema({"type": "integer", "format": "int32", "minimum": 1, "maximum": INT32_MAX}),
]
