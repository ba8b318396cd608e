"""Label and field selectors, parsed and matched as the apiserver does.

Label selectors (`labelSelector=`): comma-separated requirements, all of which must
hold — `k=v`, `k==v`, `k!=v` (also true when `k` is absent), `k in (a,b)`,
`k notin (a,b)` (also true when absent), `k` (exists), `!k` (absent), `k>3`, `k<3`.
Keys and values are checked against the label syntax; a malformed selector is a
`BadRequest` naming the requirement, like the apiserver's "unable to parse
requirement".

Field selectors (`fieldSelector=`): `metadata.name` and `metadata.namespace` with
`=`, `==`, `!=`, and for core/v1 Events the apiserver's extra fields
(`involvedObject.kind|namespace|name|uid|apiVersion|resourceVersion|fieldPath`,
`reason`, `reportingComponent`, `source`, `type`). Any other field is a `BadRequest`
("field label not supported"): the emulator implements no other per-resource fields
(e.g. a Pod's `spec.nodeName`, CRD `selectableFields`).

Pure; called by `api.py` for list, watch and deletecollection.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kubeemu import errors

__all__ = [
    "EXTRA_FIELDS",
    "FieldSelector",
    "LabelSelector",
    "Requirement",
    "parse_field_selector",
    "parse_label_selector",
    "valid_label_key",
    "valid_label_value",
]

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_PREFIX = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_KEY = re.compile(rf"^({_PREFIX}/)?{_NAME}$")
_VALUE = re.compile(rf"^({_NAME})?$")
_SPECIAL = set("!=,()<> \t\n")


def valid_label_key(key: str) -> bool:
    """A label (or annotation) key: an optional DNS-subdomain prefix and `/`, then a name."""
    return bool(_KEY.match(key)) and len(key.split("/")[0]) <= 253


def valid_label_value(value: str) -> bool:
    """A label value: empty, or up to 63 alphanumerics, `-`, `_`, `.` (alphanumeric ends)."""
    return bool(_VALUE.match(value))


@dataclass(frozen=True)
class Requirement:
    """One label requirement: `key op values`."""

    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!", "gt", "lt"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        match self.op:
            case "=" | "in":
                return present and value in self.values
            case "!=" | "notin":
                return not present or value not in self.values
            case "exists":
                return present
            case "!":
                return not present
            case "gt" | "lt":
                try:
                    number = int(str(value))
                except ValueError:
                    return False
                bound = int(self.values[0])
                return present and (number > bound if self.op == "gt" else number < bound)
        raise AssertionError(self.op)


@dataclass(frozen=True)
class LabelSelector:
    """All requirements of a label selector (empty: everything matches)."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, obj: Mapping[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(r.matches(labels) for r in self.requirements)


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in " \t\n":
            i += 1
        elif text.startswith(("==", "!="), i):
            out.append(text[i : i + 2])
            i += 2
        elif ch in _SPECIAL:
            out.append(ch)
            i += 1
        else:
            j = i
            while j < len(text) and text[j] not in _SPECIAL:
                j += 1
            out.append(text[i:j])
            i = j
    return out


def _bad(text: str, why: str) -> errors.BadRequest:
    return errors.BadRequest(f"unable to parse requirement: {why} (in selector {text!r})")


def parse_label_selector(text: str) -> LabelSelector:
    """Parse a `labelSelector` query value; raise `BadRequest` when malformed."""
    tokens = _tokens(text)
    pos = 0
    reqs: list[Requirement] = []

    def take() -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise _bad(text, "unexpected end of selector")
        pos += 1
        return tokens[pos - 1]

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def key(tok: str) -> str:
        if tok in _SPECIAL or tok in ("==", "!=") or not _KEY.match(tok) or len(tok) > 316:
            raise _bad(text, f"invalid label key {tok!r}")
        return tok

    def value(tok: str) -> str:
        if not _VALUE.match(tok):
            raise _bad(text, f"invalid label value {tok!r}")
        return tok

    while pos < len(tokens):
        tok = take()
        if tok == "!":
            reqs.append(Requirement(key(take()), "!"))
        else:
            k = key(tok)
            op = peek()
            if op in (None, ","):
                reqs.append(Requirement(k, "exists"))
            elif op in ("=", "==", "!="):
                take()
                nxt = peek()
                v = "" if nxt in (None, ",") else value(take())
                reqs.append(Requirement(k, "!=" if op == "!=" else "=", (v,)))
            elif op in ("in", "notin"):
                take()
                if take() != "(":
                    raise _bad(text, f"expected '(' after {op}")
                values: list[str] = []
                tok = take()
                if tok == ")":
                    raise _bad(text, f"{op} needs at least one value")
                while True:
                    if tok in (",", ")"):
                        values.append("")  # an empty value, as in `k in (a,)`
                    else:
                        values.append(value(tok))
                        tok = take()
                    if tok == ")":
                        break
                    if tok != ",":
                        raise _bad(text, f"expected ',' or ')' in {op} list, found {tok!r}")
                    tok = take()
                reqs.append(Requirement(k, op, tuple(values)))
            elif op in (">", "<"):
                take()
                bound = take()
                if not re.fullmatch(r"-?\d+", bound):
                    raise _bad(text, f"{op} needs an integer, found {bound!r}")
                reqs.append(Requirement(k, "gt" if op == ">" else "lt", (bound,)))
            else:
                raise _bad(text, f"unexpected {op!r} after key {k!r}")
        if pos < len(tokens) and take() != ",":
            raise _bad(text, "expected ',' between requirements")
        if pos == len(tokens) and tokens and tokens[-1] == ",":
            raise _bad(text, "trailing ','")
    return LabelSelector(tuple(reqs))


_FIELDS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "metadata.name": lambda o: str((o.get("metadata") or {}).get("name", "")),
    "metadata.namespace": lambda o: str((o.get("metadata") or {}).get("namespace", "")),
}


def _involved(key: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda o: str((o.get("involvedObject") or {}).get(key, ""))


# core/v1 Events (pkg/registry/core/event/strategy.go `ToSelectableFields`)
_EVENT_FIELDS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    **{
        f"involvedObject.{key}": _involved(key)
        for key in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion")
    },
    "involvedObject.fieldPath": _involved("fieldPath"),
    "reason": lambda o: str(o.get("reason", "")),
    "reportingComponent": lambda o: str(o.get("reportingComponent", "")),
    "source": lambda o: str((o.get("source") or {}).get("component", "")),
    "type": lambda o: str(o.get("type", "")),
}

#: (group, resource) → the fields its selectors may name besides metadata's
EXTRA_FIELDS: dict[tuple[str, str], dict[str, Callable[[Mapping[str, Any]], str]]] = {
    ("", "events"): _EVENT_FIELDS,
}


@dataclass(frozen=True)
class FieldSelector:
    """All terms of a field selector: (field, equal?, value)."""

    terms: tuple[tuple[str, bool, str], ...] = ()
    fields: Mapping[str, Callable[[Mapping[str, Any]], str]] = dataclasses.field(
        default_factory=lambda: _FIELDS
    )

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all((self.fields[f](obj) == v) == eq for f, eq, v in self.terms)

    def value_of(self, field: str) -> str | None:
        """The value an equality term pins `field` to, if any (to narrow a lookup)."""
        for f, eq, v in self.terms:
            if f == field and eq:
                return v
        return None


def parse_field_selector(text: str, *, group: str = "", resource: str = "") -> FieldSelector:
    """Parse a `fieldSelector` query value for a list of `resource` (of `group`);
    raise `BadRequest` when malformed/unsupported."""
    known = {**_FIELDS, **EXTRA_FIELDS.get((group, resource), {})}
    terms: list[tuple[str, bool, str]] = []
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            continue
        match = re.fullmatch(r"([^=!]+?)\s*(==|=|!=)\s*(.*)", part)
        if match is None:
            raise errors.BadRequest(f"invalid field selector: {part!r}")
        field, op, value = match.group(1).strip(), match.group(2), match.group(3).strip()
        if field not in known:
            raise errors.BadRequest(f'field label not supported: "{field}"')
        terms.append((field, op != "!=", value))
    return FieldSelector(tuple(terms), known)
