"""Validation of custom resources against a CRD version's `openAPIV3Schema`.

`compile_schema(openapi)` translates the structural OpenAPI v3 schema into a JSON
Schema (draft 4, the dialect OpenAPI 3.0 builds on) and returns a `SchemaValidator`;
`SchemaValidator.validate(obj)` prunes what the apiserver prunes and returns the field
causes of everything it would reject, for an `Invalid` (422) answer.

Translation, and where it is stricter than the apiserver (deliberately):

- `nullable: true` lets a value be null; a null in a field that is *not* nullable is
  removed before validation, as the apiserver does for `apiextensions.k8s.io/v1`.
- `x-kubernetes-int-or-string: true` accepts an integer or a string.
- `x-kubernetes-preserve-unknown-fields: true` accepts any extra properties at that node.
- Unknown fields anywhere else are **rejected** (422, cause `field` = the unknown
  field's path, e.g. `spec.foo`). The apiserver would prune them silently
  (`fieldValidation=Ignore`, kubectl `--validate=false`), warn (`Warn`, the official
  client's default) or answer 400 (`Strict`, kubectl's default): rejecting makes a
  controller that writes fields its CRD does not declare fail loudly in tests.
  An `type: object` without `properties`, `additionalProperties` or
  preserve-unknown-fields therefore accepts only `{}` (the apiserver would prune it
  to `{}`).
- At the root, `apiVersion`, `kind` and `metadata` are always allowed; `metadata` is
  not validated here (see `objects.py`).
- `format: date-time` is checked (RFC 3339); other formats are not.
- `default`, `x-kubernetes-validations` (CEL), list-type and map-type markers are
  ignored: no defaulting, no CEL rules, no list uniqueness checks.

Pure: no I/O, no shared state. Called by `crds.py` (compile) and `api.py` (validate).
"""

from __future__ import annotations

import copy
import datetime
import functools
import json
from collections.abc import Iterable
from typing import Any

import jsonschema

from kubeemu import errors

__all__ = ["SchemaValidator", "compile_schema", "field_path"]

_PASSTHROUGH = (
    "type",
    "format",
    "enum",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "uniqueItems",
    "multipleOf",
    "minProperties",
    "maxProperties",
    "required",
)

_INT_OR_STRING = [{"type": "integer"}, {"type": "string"}]
_FORMATS = jsonschema.FormatChecker(formats=())


@_FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if "T" not in value.upper():
        raise ValueError(f"{value!r} is not an RFC 3339 date-time")
    datetime.datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    return True


def _translate(node: dict[str, Any], *, root: bool = False, in_combinator: bool = False) -> dict:
    """One OpenAPI v3 (structural) schema node → a JSON Schema draft 4 node."""
    out: dict[str, Any] = {k: copy.deepcopy(node[k]) for k in _PASSTHROUGH if k in node}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = copy.deepcopy(_INT_OR_STRING)
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    if "items" in node and isinstance(node["items"], dict):
        out["items"] = _translate(node["items"])
    properties = {k: _translate(v) for k, v in node.get("properties", {}).items()}
    if root:
        properties.pop("metadata", None)
        properties.setdefault("apiVersion", {"type": "string"})
        properties.setdefault("kind", {"type": "string"})
        properties["metadata"] = {"type": "object"}
    if properties:
        out["properties"] = properties
    additional = node.get("additionalProperties")
    if isinstance(additional, dict):
        out["additionalProperties"] = _translate(additional)
    elif additional is not None:
        out["additionalProperties"] = bool(additional)
    elif (
        not node.get("x-kubernetes-preserve-unknown-fields")
        and not in_combinator
        and (properties or node.get("type") == "object")
    ):
        out["additionalProperties"] = False
    for key in ("allOf", "anyOf", "oneOf"):
        if key in node:
            branches = [_translate(b, in_combinator=True) for b in node[key]]
            if key == "anyOf" and "anyOf" in out:
                out["allOf"] = [*out.get("allOf", []), {"anyOf": branches}]
            else:
                out[key] = branches
    if "not" in node:
        out["not"] = _translate(node["not"], in_combinator=True)
    return out


def _prune_nulls(value: Any, node: dict[str, Any]) -> None:
    """Drop null values of non-nullable properties, recursively (in place)."""
    if isinstance(value, dict):
        props = node.get("properties", {})
        additional = node.get("additionalProperties")
        for key in list(value):
            child = props.get(key)
            if child is None and isinstance(additional, dict):
                child = additional
            if child is None:
                continue
            if value[key] is None:
                if not child.get("nullable"):
                    del value[key]
                continue
            _prune_nulls(value[key], child)
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for item in value:
            _prune_nulls(item, node["items"])


def field_path(parts: Iterable[str | int]) -> str:
    """`["spec", "containers", 0, "name"]` → `spec.containers[0].name`."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


_RULES = {
    "maximum": "should be less than or equal to {value}",
    "minimum": "should be greater than or equal to {value}",
    "minLength": "should be at least {value} chars long",
    "minItems": "should have at least {value} items",
    "pattern": "should match '{value}'",
    "format": "must be of type {value}",
    "multipleOf": "should be a multiple of {value}",
    "uniqueItems": "shouldn't contain duplicates",
}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _causes(error: jsonschema.ValidationError) -> list[errors.Cause]:
    path = list(error.absolute_path)
    where = field_path(path) or "<root>"
    keyword = error.validator
    if keyword == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        return [
            errors.Cause(field_path([*path, n]), "Required value", "FieldValueRequired")
            for n in missing
        ]
    if keyword == "additionalProperties" and isinstance(error.instance, dict):
        declared = set(error.schema.get("properties", {}))
        unknown = sorted(k for k in error.instance if k not in declared)
        return [
            errors.Cause(
                field_path([*path, name]),
                f'Unknown field: "{field_path([*path, name])}" is not declared by the schema',
                "FieldValueInvalid",
            )
            for name in unknown
        ]
    if keyword == "enum":
        supported = ", ".join(_show(v) for v in error.validator_value)
        message = f"Unsupported value: {_show(error.instance)}: supported values: {supported}"
        return [errors.Cause(where, message, "FieldValueNotSupported")]
    if keyword == "type" or (keyword == "anyOf" and error.validator_value == _INT_OR_STRING):
        expected = error.validator_value if keyword == "type" else "integer or string"
        if isinstance(expected, list):
            expected = " or ".join(t for t in expected if t != "null")
        message = (
            f"Invalid value: {_show(error.instance)}: {where} in body must be of type"
            f" {expected}: {_show(_json_type(error.instance))}"
        )
        return [errors.Cause(where, message, "FieldValueTypeInvalid")]
    if keyword in ("maxLength", "maxItems", "maxProperties"):
        limit = error.validator_value
        return [errors.Cause(where, f"Too long: may not be more than {limit}", "FieldValueTooLong")]
    rule = _RULES.get(str(keyword), "{message}").format(
        value=error.validator_value, message=error.message
    )
    message = f"Invalid value: {_show(error.instance)}: {where} in body {rule}"
    return [errors.Cause(where, message, "FieldValueInvalid")]


class SchemaValidator:
    """A compiled CRD version schema."""

    def __init__(self, openapi: dict[str, Any]) -> None:
        self.openapi = copy.deepcopy(openapi)
        self.json_schema = _translate(self.openapi, root=True)
        self._validator = jsonschema.Draft4Validator(self.json_schema, format_checker=_FORMATS)

    def validate(self, obj: dict[str, Any]) -> list[errors.Cause]:
        """Prune non-nullable nulls from `obj` in place; return every violation as causes."""
        _prune_nulls(obj, {**self.openapi, "properties": _without_metadata(self.openapi)})
        causes: list[errors.Cause] = []
        found = sorted(self._validator.iter_errors(obj), key=lambda e: list(map(str, e.path)))
        for error in found:
            causes.extend(_causes(error))
        return causes


def _without_metadata(openapi: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in openapi.get("properties", {}).items() if k != "metadata"}


def compile_schema(openapi: dict[str, Any]) -> SchemaValidator:
    """Compile a CRD version's `openAPIV3Schema`; raise `jsonschema.SchemaError` if malformed.

    Compiled validators are cached by the schema's content (they hold no state), so a
    CRD applied in every test compiles once per process.
    """
    return _compiled(json.dumps(openapi, sort_keys=True))


@functools.lru_cache(maxsize=256)
def _compiled(canonical: str) -> SchemaValidator:
    validator = SchemaValidator(json.loads(canonical))
    jsonschema.Draft4Validator.check_schema(validator.json_schema)
    return validator
