"""CRD validation rules: `x-kubernetes-validations` evaluated with CEL (`cel-python`).

`Rules(openapi)` collects every rule of a CRD version's schema (compiling each once
per process: `compile_rule` raises `RuleError` for a rule that does not compile, which
`crds.py` reports as an invalid CRD, as the apiserver does); `Rules.check(obj, old)`
evaluates them on an object that already passed the structural schema and returns
the causes of an `Invalid` (422) answer, as the apiserver words them:

- each rule runs with `self` bound to the value of its node, wherever the node occurs
  (every item of a list, every value of a map); a node absent from the object is not
  checked;
- a rule that reads `oldSelf` is a transition rule: checked only on an update, and only
  where the old object has the same node (same property path; list items of
  `x-kubernetes-list-type: map` lists by their keys, other list items never, as
  upstream);
- the cause's field is the node's path plus the rule's `fieldPath`; its message
  `Invalid value: "<type>": <message>` (or `Required value: …`, `Forbidden: …`,
  `Duplicate value: …` by the rule's `reason`), where the message is the rule's
  `messageExpression` when it evaluates to a string, else its `message`, else
  `failed rule: <rule>`;
- a rule whose evaluation fails (no such key, a type mismatch) is a cause too,
  `… evaluation error: …`.

Ratcheting (on by default since Kubernetes 1.30): on an update, a value equal to the
old one at the same path (list items: only through a map list's keys) is not checked
again — an object that a newer rule would refuse can still have its status written.

Differences from the apiserver: a null value counts as absent (`has()` is false); no
cost estimate or runtime cost limit; the Kubernetes CEL libraries are partly there —
lists (`sum`, `isSorted`, `min`, `max`, `indexOf`, `lastIndexOf`), strings (`join`,
`lowerAscii`, `upperAscii`, `trim`, `split`, `replace`, `substring`, `indexOf`), and
`url`/`isURL`, `isIP`/`isCIDR` (as booleans only); besides the CEL standard macros and
functions of `cel-python` (`has`, `all`, `exists`, `exists_one`, `map`, `filter`,
`size`, `matches`, `startsWith`, …).

Pure: no I/O. Used by `schema.py`.
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
import json
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import celpy
from celpy import celtypes

from kubeemu import errors

__all__ = ["RuleError", "Rules", "compile_rule"]

Path = tuple[str | int, ...]


class RuleError(ValueError):
    """A rule (or message expression) that does not compile."""


def _sum(items: Any) -> Any:
    total: Any = celtypes.IntType(0)
    for n, item in enumerate(items):
        total = item if n == 0 else total + item
    return total


def _is_sorted(items: Any) -> celtypes.BoolType:
    values = list(items)
    return celtypes.BoolType(all(a <= b for a, b in itertools.pairwise(values)))


def _index_of(target: Any, item: Any) -> celtypes.IntType:
    if isinstance(target, str):
        return celtypes.IntType(str(target).find(str(item)))
    values = list(target)
    return celtypes.IntType(values.index(item) if item in values else -1)


def _last_index_of(target: Any, item: Any) -> celtypes.IntType:
    if isinstance(target, str):
        return celtypes.IntType(str(target).rfind(str(item)))
    values = list(target)
    return celtypes.IntType(len(values) - 1 - values[::-1].index(item) if item in values else -1)


def _join(items: Any, separator: Any = "") -> celtypes.StringType:
    return celtypes.StringType(str(separator).join(str(i) for i in items))


def _split(text: Any, separator: Any) -> celtypes.ListType:
    return celtypes.ListType([celtypes.StringType(s) for s in str(text).split(str(separator))])


def _substring(text: Any, start: Any, end: Any = None) -> celtypes.StringType:
    value = str(text)
    return celtypes.StringType(value[int(start) : len(value) if end is None else int(end)])


def _is_ip(text: Any) -> celtypes.BoolType:
    try:
        ipaddress.ip_address(str(text))
    except ValueError:
        return celtypes.BoolType(False)
    return celtypes.BoolType(True)


def _is_cidr(text: Any) -> celtypes.BoolType:
    try:
        ipaddress.ip_network(str(text), strict=False)
    except ValueError:
        return celtypes.BoolType(False)
    return celtypes.BoolType("/" in str(text))


def _is_url(text: Any) -> celtypes.BoolType:
    parsed = urllib.parse.urlparse(str(text))
    return celtypes.BoolType(
        bool(parsed.scheme) and (bool(parsed.netloc) or parsed.path[:1] == "/")
    )


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sum": _sum,
    "isSorted": _is_sorted,
    "min": lambda items: min(items),
    "max": lambda items: max(items),
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    "join": _join,
    "split": _split,
    "substring": _substring,
    "lowerAscii": lambda text: celtypes.StringType(str(text).lower()),
    "upperAscii": lambda text: celtypes.StringType(str(text).upper()),
    "trim": lambda text: celtypes.StringType(str(text).strip()),
    "replace": lambda text, old, new: celtypes.StringType(str(text).replace(str(old), str(new))),
    "isIP": _is_ip,
    "isCIDR": _is_cidr,
    "isURL": _is_url,
}
_ENV = celpy.Environment()


@functools.lru_cache(maxsize=1024)
def compile_rule(text: str) -> celpy.Runner:
    """A compiled CEL expression (cached by its text); `RuleError` when it does not compile."""
    try:
        return _ENV.program(_ENV.compile(text), functions=_FUNCTIONS)
    except celpy.CELParseError as exc:
        raise RuleError(f"compilation failed: {exc}") from exc


@dataclass(frozen=True)
class _Rule:
    rule: str
    message: str
    message_expression: str
    field_path: str
    reason: str

    @property
    def transition(self) -> bool:
        return "oldSelf" in self.rule


@dataclass(frozen=True)
class _Node:
    """Where rules sit: a path of property names, `[]` (list items) and `{}` (map values)."""

    steps: tuple[str, ...]
    type: str
    rules: tuple[_Rule, ...]
    map_keys: tuple[tuple[str, ...], ...]  # for each `[]` step: the list's map keys, or ()


def _collect(
    node: dict[str, Any], steps: tuple[str, ...], keys: tuple[tuple[str, ...], ...]
) -> Iterator[_Node]:
    found = node.get("x-kubernetes-validations") or []
    if found:
        rules = tuple(
            _Rule(
                rule=str(r.get("rule", "")),
                message=str(r.get("message") or ""),
                message_expression=str(r.get("messageExpression") or ""),
                field_path=str(r.get("fieldPath") or ""),
                reason=str(r.get("reason") or "FieldValueInvalid"),
            )
            for r in found
        )
        yield _Node(steps, str(node.get("type") or "object"), rules, keys)
    for name, child in (node.get("properties") or {}).items():
        yield from _collect(child, (*steps, name), keys)
    if isinstance(node.get("items"), dict):
        list_keys = ()
        if node.get("x-kubernetes-list-type") == "map":
            list_keys = tuple(node.get("x-kubernetes-list-map-keys") or ())
        yield from _collect(node["items"], (*steps, "[]"), (*keys, list_keys))
    if isinstance(node.get("additionalProperties"), dict):
        yield from _collect(node["additionalProperties"], (*steps, "{}"), keys)


def _values(
    value: Any, old: Any, steps: tuple[str, ...], keys: tuple[tuple[str, ...], ...], path: Path
) -> Iterator[tuple[Path, Any, Any]]:
    """(path, value, old value or None) of every occurrence of the node `steps` names
    that changed (ratcheting: a value equal to the old one is not checked again)."""
    if value is None or (old is not None and value == old):
        return
    if not steps:
        yield path, value, old
        return
    step, rest = steps[0], steps[1:]
    if step == "[]":
        if not isinstance(value, list):
            return
        map_keys, other_keys = keys[0], keys[1:]
        olds: dict[tuple[Any, ...], Any] = {}
        if map_keys and isinstance(old, list):
            olds = {tuple(o.get(k) for k in map_keys): o for o in old if isinstance(o, dict)}
        for n, item in enumerate(value):
            before = None
            if map_keys and isinstance(item, dict):
                before = olds.get(tuple(item.get(k) for k in map_keys))
            yield from _values(item, before, rest, other_keys, (*path, n))
    elif step == "{}":
        if not isinstance(value, dict):
            return
        for key, item in value.items():
            before = old.get(key) if isinstance(old, dict) else None
            yield from _values(item, before, rest, keys, (*path, key))
    elif isinstance(value, dict) and step in value:
        before = old.get(step) if isinstance(old, dict) else None
        yield from _values(value[step], before, rest, keys, (*path, step))


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _field(path: Path, field_path: str) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    if field_path:
        out += field_path if out else field_path.lstrip(".")
    return out


_PREFIX = {
    "FieldValueRequired": "Required value: {message}",
    "FieldValueForbidden": "Forbidden: {message}",
    "FieldValueDuplicate": 'Duplicate value: "{type}": {message}',
}


def _run(text: str, activation: dict[str, Any]) -> Any:
    try:
        return compile_rule(text).evaluate(activation)
    except celpy.CELEvalError as exc:
        return exc
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
        return celpy.CELEvalError(str(exc))


class Rules:
    """The validation rules of one CRD version's `openAPIV3Schema`."""

    def __init__(self, openapi: dict[str, Any]) -> None:
        self.nodes = tuple(_collect(openapi, (), ()))
        for node in self.nodes:
            for rule in node.rules:
                compile_rule(rule.rule)
                if rule.message_expression:
                    compile_rule(rule.message_expression)

    def check(self, obj: dict[str, Any], old: dict[str, Any] | None) -> list[errors.Cause]:
        """The causes of every rule `obj` breaks (`old`: the stored object on an update)."""
        causes: list[errors.Cause] = []
        for node in self.nodes:
            for path, value, before in _values(obj, old, node.steps, node.map_keys, ()):
                now = json.dumps(_without_nulls(value), sort_keys=True)
                then = (
                    None if before is None else json.dumps(_without_nulls(before), sort_keys=True)
                )
                for rule in node.rules:
                    if rule.transition and then is None:
                        continue
                    # a rule without oldSelf is a function of the value: its verdict is kept
                    verdict = _verdict(rule, now, then if rule.transition else None)
                    if verdict is not None:
                        where = _field(path, rule.field_path) or "<nil>"
                        shape, reason = verdict
                        causes.append(errors.Cause(where, shape.format(type=node.type), reason))
        return causes


@functools.lru_cache(maxsize=16384)
def _verdict(rule: _Rule, value: str, old: str | None) -> tuple[str, str] | None:
    """None when `rule` holds for the value (JSON), else (message with `{type}`, reason)."""
    activation = {"self": celpy.json_to_cel(json.loads(value))}
    if old is not None:
        activation["oldSelf"] = celpy.json_to_cel(json.loads(old))
    result = _run(rule.rule, activation)
    if isinstance(result, celpy.CELEvalError):
        text = f"{rule.rule}: evaluation error: {result.args[0]}"
        return 'Invalid value: "{type}": ' + _braces(text), "FieldValueInvalid"
    if isinstance(result, celtypes.BoolType) and bool(result):
        return None
    text = rule.message or f"failed rule: {rule.rule}"
    if rule.message_expression:
        said = _run(rule.message_expression, activation)
        if isinstance(said, str) and said.strip():
            text = str(said)
    shape = _PREFIX.get(rule.reason, 'Invalid value: "{type}": {message}')
    return shape.replace("{message}", _braces(text)), rule.reason


def _braces(text: str) -> str:
    """`text` safe inside a `str.format` template."""
    return text.replace("{", "{{").replace("}", "}}")
