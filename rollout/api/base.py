"""Shared building blocks of the resource models: the base model and field types.

Every resource model derives from `ApiModel`: camelCase names on the wire (the
Kubernetes convention), snake_case in Python, and unknown fields are errors so that
a typo such as `setWieght` is reported instead of silently dropped. Numbers and
booleans are strict: YAML `"5"` is not a weight and `1` is not `true`.

Pure data; no I/O. Imported by every module of `rollout.api`.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Strict, WithJsonSchema
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

__all__ = [
    "DNS1123_LABEL",
    "ApiModel",
    "Bool",
    "Float",
    "Int",
    "Name",
    "NonNegativeInt",
    "Percent",
    "Port",
    "PositiveInt",
]

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class ApiModel(BaseModel):
    """Base of every resource model: camelCase aliases, unknown fields forbidden."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        validate_default=False,
        use_enum_values=False,
        ser_json_timedelta="float",
        allow_inf_nan=False,
    )


def _check_dns1123(value: str) -> str:
    if not DNS1123_LABEL.match(value):
        raise PydanticCustomError(
            "dns1123_label",
            "{value} is not a valid name: use at most 63 lowercase letters, digits"
            " and '-', starting and ending with a letter or digit",
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


def _check_positive(value: int) -> int:
    if value < 1:
        raise PydanticCustomError("positive", "must be at least 1")
    return value


def _check_non_negative(value: int) -> int:
    if value < 0:
        raise PydanticCustomError("non_negative", "must be 0 or more")
    return value


Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]
Bool = Annotated[bool, Strict()]

Name = Annotated[
    str,
    AfterValidator(_check_dns1123),
    WithJsonSchema({"type": "string", "maxLength": 63, "pattern": DNS1123_LABEL.pattern}),
]
Percent = Annotated[
    int,
    Strict(),
    AfterValidator(_check_percent),
    WithJsonSchema({"type": "integer", "minimum": 0, "maximum": 100}),
]
Port = Annotated[
    int,
    Strict(),
    AfterValidator(_check_port),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": 65535}),
]
PositiveInt = Annotated[
    int,
    Strict(),
    AfterValidator(_check_positive),
    WithJsonSchema({"type": "integer", "minimum": 1}),
]
NonNegativeInt = Annotated[
    int,
    Strict(),
    AfterValidator(_check_non_negative),
    WithJsonSchema({"type": "integer", "minimum": 0}),
]
