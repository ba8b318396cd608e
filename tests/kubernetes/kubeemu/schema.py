"""Custom resources against a CRD version's `openAPIV3Schema`: prune, default, validate.

`compile_schema(openapi)` translates the structural OpenAPI v3 schema into a JSON
Schema (draft 4, the dialect OpenAPI 3.0 builds on), collects its CEL rules
(`cel.py`), and returns a `SchemaValidator`. On a write the apiserver's order is
followed: `prune(obj)` drops unknown fields (returning their paths, for
`fieldValidation`), `default(obj)` drops the nulls of non-nullable fields and fills
the schema's `default`s, and `validate(obj, old)` returns the field causes of an
`Invalid` (422) answer: the structural schema first, then — when that passed — the
`x-kubernetes-validations` rules (transition rules with `old`, on updates only).
`default` runs on reads too (`exchange.present`): an object stored before a default
was added is served with it, as from etcd.

Translation and pruning:

- `nullable: true` lets a value be null; a null in a field that is *not* nullable is
  removed, as the apiserver does for `apiextensions.k8s.io/v1`.
- `x-kubernetes-int-or-string: true` accepts an integer or a string.
- `x-kubernetes-preserve-unknown-fields: true` keeps extra properties at that node;
  an `additionalProperties` schema keeps them as map values.
- Unknown fields anywhere else are pruned (a `type: object` without properties is
  pruned to `{}`); `writes.py` decides by `fieldValidation` whether that is silent
  (`Ignore`), a `Warning` header (`Warn`, the default) or a 400 (`Strict`).
- At the root, `apiVersion`, `kind` and `metadata` are always kept; `metadata` is
  not validated here (see `objects.py`).
- `default`s are applied where the parent object exists (a default inside an absent
  object does not create it), before validation.
- `format: date-time` is checked (RFC 3339); other formats are not. List-type and
  map-type markers are not checked (no uniqueness of set items or map keys).

Pure: no I/O, no shared state. Called by `crds.py` (compile) and `writes.py`.
"""

from __future__ import annotations

import copy
import datetime
import functools
import json
from collections.abc import Iterable
from typing import Any

import jsonschema

from kubeemu import cel, errors

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


def _prune_unknown(value: Any, node: dict[str, Any], path: list[str | int]) -> list[str]:
    """Drop the fields `node` does not declare, recursively (in place); their paths."""
    dropped: list[str] = []
    if isinstance(value, dict):
        props = node.get("properties") or {}
        additional = node.get("additionalProperties")
        keep_all = node.get("x-kubernetes-preserve-unknown-fields") or additional is True
        for key in list(value):
            child = props.get(key)
            if child is None and isinstance(additional, dict):
                child = additional
            if child is None:
                if not keep_all:
                    dropped.append(field_path([*path, key]))
                    del value[key]
                continue
            dropped += _prune_unknown(value[key], child, [*path, key])
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for n, item in enumerate(value):
            dropped += _prune_unknown(item, node["items"], [*path, n])
    return dropped


def _apply_defaults(value: Any, node: dict[str, Any]) -> None:
    """Fill the `default` of every absent property, recursively (in place)."""
    if isinstance(value, dict):
        props = node.get("properties") or {}
        for key, child in props.items():
            if key not in value and "default" in child:
                value[key] = copy.deepcopy(child["default"])
        additional = node.get("additionalProperties")
        for key, item in value.items():
            child = props.get(key) or (additional if isinstance(additional, dict) else None)
            if child is not None:
                _apply_defaults(item, child)
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for item in value:
            _apply_defaults(item, node["items"])


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
        self._body = {**self.openapi, "properties": _without_metadata(self.openapi)}
        kept = {
            "apiVersion": {},
            "kind": {},
            "metadata": {"x-kubernetes-preserve-unknown-fields": True},
        }
        self._root = {**self.openapi, "properties": {**kept, **self._body["properties"]}}
        self.rules = cel.Rules(self.openapi)

    def prune(self, obj: dict[str, Any]) -> list[str]:
        """Drop the fields the schema does not declare from `obj` (in place); their paths."""
        return _prune_unknown(obj, self._root, [])

    def default(self, obj: dict[str, Any]) -> None:
        """Drop non-nullable nulls and fill the schema's defaults (in place)."""
        _prune_nulls(obj, self._body)
        _apply_defaults(obj, self._body)

    def validate(
        self, obj: dict[str, Any], old: dict[str, Any] | None = None
    ) -> list[errors.Cause]:
        """Every violation of the schema, then (if none) of its CEL rules, as causes."""
        self.default(obj)
        causes: list[errors.Cause] = []
        found = sorted(self._validator.iter_errors(obj), key=lambda e: list(map(str, e.path)))
        for error in found:
            causes.extend(_causes(error))
        if not causes:
            causes = self.rules.check(obj, old)
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
