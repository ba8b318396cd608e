"""YAML text → resources, with every problem reported at its file, line and field.

`parse(text, path)` reads a multi-document YAML stream and returns the resources it
holds and a `Diagnostic` per problem — YAML syntax errors with their line, duplicate
keys, unknown kinds, and every validation error of every document, each written as
`PATH:LINE: FIELD.PATH: message`. It never raises on bad input: a loader that
crashes on a typo is a bug. Type errors do not hide the cross-field rules of the
fields that are well-typed: both are reported in the same pass (`partial`).

Size comes first (`rollout.api.limits`): a stream or a document too large as
written, a string too large or holding NUL, or a document whose YAML aliases expand
past the limit is reported, and its data never reaches pydantic.

Warnings are the second channel: what is valid but unwise (a literal credential in a
policy) is a `Diagnostic` with severity `warning`, printed
`PATH:LINE: FIELD.PATH: warning: message`, in `Parsed.warnings`. They never make a
document invalid; `Parsed.diagnostics` holds the problems only.

How lines are found: the document is composed into PyYAML nodes, which carry their
position; a walk records the line of every field path (`spec.steps[2].setWeight`);
a pydantic error location is then mapped to the line of its longest known prefix
(a missing field points at its parent's line).

Pure: text in, values out; reading files is `rollout.api.loader`'s job.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any, Literal

import pydantic
import yaml
import yaml.reader

from rollout.api import (
    base,
    kinds,
    limits,
    partial,
    policyspec,
    problems,
    release,
    rolloutpolicy,
)

__all__ = [
    "Diagnostic",
    "Document",
    "Parsed",
    "Severity",
    "format_loc",
    "parse",
    "resource_warnings",
    "validate_data",
]

Severity = Literal["error", "warning"]

_MAX_NODES = 200_000


@dataclasses.dataclass(frozen=True)
class Diagnostic:
    """One problem at a place: `PATH:LINE: FIELD.PATH: message` when printed."""

    path: str
    line: int
    field: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line > 0 else self.path
        message = f"warning: {self.message}" if self.severity == "warning" else self.message
        return f"{where}: {self.field}: {message}" if self.field else f"{where}: {message}"


@dataclasses.dataclass(frozen=True)
class Document:
    """A resource loaded from a file, with where it came from."""

    path: str
    line: int
    resource: kinds.Resource
    lines: dict[problems.Loc, int] = dataclasses.field(default_factory=dict, compare=False)

    def line_of(self, loc: problems.Loc) -> int:
        """The line of a field path in this document (its parent's when not written)."""
        return _line_of(self.lines, loc, self.line)


@dataclasses.dataclass
class Parsed:
    """Resources, problems (`diagnostics`: any makes the input invalid) and warnings."""

    documents: list[Document] = dataclasses.field(default_factory=list)
    diagnostics: list[Diagnostic] = dataclasses.field(default_factory=list)
    warnings: list[Diagnostic] = dataclasses.field(default_factory=list)

    def extend(self, other: Parsed) -> None:
        self.documents.extend(other.documents)
        self.diagnostics.extend(other.diagnostics)
        self.warnings.extend(other.warnings)


def parse(text: str, path: str) -> Parsed:
    """Every resource in a YAML stream, and a diagnostic for every problem in it."""
    result = Parsed()
    size = base.utf8_size(text)
    if size > limits.MAX_FILE_BYTES:
        message = "file " + base.too_large(size, limits.MAX_FILE_BYTES)
        return Parsed(diagnostics=[Diagnostic(path, 0, "", message)])
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                result.extend(_document(loader, node, path, text))
    except yaml.YAMLError as exc:
        result.diagnostics.append(_yaml_error(exc, text, path, "YAML syntax error"))
    except RecursionError:
        result.diagnostics.append(Diagnostic(path, 1, "", "YAML nested too deeply"))
    finally:
        if loader is not None:
            loader.dispose()
    return result


M = typing.TypeVar("M", bound=base.ApiModel)


def parse_settings(text: str, path: str, model: type[M]) -> tuple[M | None, list[Diagnostic]]:
    """One YAML document of settings (not a resource: `model` says its shape), or a
    diagnostic for every problem in it, at its line (e.g. `rollout controller
    --notifications FILE`)."""
    size = base.utf8_size(text)
    if size > limits.MAX_FILE_BYTES:
        return None, [
            Diagnostic(path, 0, "", "file " + base.too_large(size, limits.MAX_FILE_BYTES))
        ]
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, [Diagnostic(path, 1, "", "the file is empty")]
        lines, dupes = _line_map(loader, node)
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        return None, [_yaml_error(exc, text, path, "YAML syntax error")]
    except (RecursionError, ValueError, TypeError) as exc:
        return None, [Diagnostic(path, 1, "", f"YAML error: {exc}")]
    finally:
        loader.dispose()
    start = node.start_mark.line + 1
    if dupes:
        return None, [
            Diagnostic(path, line, format_loc(loc), message) for loc, line, message in dupes
        ]
    walked = limits.data_problems(data)
    if walked.oversized or walked.unstorable:
        found = walked.oversized + walked.unstorable
        return None, [_diagnostic(path, lines, start, p) for p in found]
    try:
        return model.model_validate(data), []
    except pydantic.ValidationError as exc:
        found = [_problem(model, error) for error in exc.errors(include_url=False)]
        return None, [_diagnostic(path, lines, start, p) for p in found]


def _yaml_error(exc: yaml.YAMLError, text: str, path: str, what: str) -> Diagnostic:
    """A diagnostic at the line where PyYAML saw the problem, naming where it began."""
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        return Diagnostic(path, line, "", f"{what}: character {exc.character!r} is not allowed")
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        message = f"{what}: {exc.problem or exc.context or 'invalid YAML'}"
        context = exc.context_mark
        if exc.context and context is not None and context.line + 1 != line:
            message += f" ({exc.context} at line {context.line + 1})"
        return Diagnostic(path, line, "", message)
    return Diagnostic(path, 1, "", f"{what}: {exc}")


def _document(loader: yaml.SafeLoader, node: yaml.Node, path: str, text: str) -> Parsed:
    start = node.start_mark.line + 1
    written = base.utf8_size(text[node.start_mark.index : node.end_mark.index])
    if written > limits.MAX_DOCUMENT_BYTES:
        message = "document " + base.too_large(written, limits.MAX_DOCUMENT_BYTES)
        return Parsed(diagnostics=[Diagnostic(path, start, "", message)])
    lines, dupes = _line_map(loader, node)
    try:
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        return Parsed(diagnostics=[_yaml_error(exc, "", path, "YAML error")])
    except (RecursionError, ValueError, TypeError) as exc:
        return Parsed(diagnostics=[Diagnostic(path, start, "", f"YAML error: {exc}")])
    if data is None:
        return Parsed()
    diagnostics = [Diagnostic(path, line, format_loc(loc), message) for loc, line, message in dupes]
    if diagnostics:
        return Parsed(diagnostics=diagnostics)
    resource, found = validate_data(data)
    if resource is None:
        return Parsed(diagnostics=[_diagnostic(path, lines, start, p) for p in found])
    warnings = [_diagnostic(path, lines, start, p, "warning") for p in resource_warnings(resource)]
    return Parsed(documents=[Document(path, start, resource, lines)], warnings=warnings)


def _diagnostic(
    path: str,
    lines: dict[problems.Loc, int],
    start: int,
    problem: problems.Problem,
    severity: Severity = "error",
) -> Diagnostic:
    line = _line_of(lines, problem.loc, start)
    return Diagnostic(path, line, format_loc(problem.loc), problem.message, severity)


def resource_warnings(resource: kinds.Resource) -> list[problems.Problem]:
    """What is valid but unwise in a resource (a literal credential), at field paths."""
    if isinstance(resource, rolloutpolicy.RolloutPolicy):
        return _under(("spec",), policyspec.policy_warnings(resource.spec))
    if isinstance(resource, release.Release):
        return _under(("spec", "policy"), policyspec.policy_warnings(resource.spec.policy))
    return []


def _under(prefix: problems.Loc, found: list[problems.Problem]) -> list[problems.Problem]:
    return [problems.Problem((*prefix, *p.loc), p.message) for p in found]


def validate_data(data: Any) -> tuple[kinds.Resource | None, list[problems.Problem]]:
    """Turn one document's data into a resource, or say every way it is wrong.

    Sizes are checked first (`limits.data_problems`): data over a limit is not
    validated, so an alias bomb never reaches pydantic. A NUL or a lone surrogate in
    any string is a problem wherever it is (no field can carry it)."""
    walked = limits.data_problems(data)
    if walked.oversized:
        return None, walked.oversized + walked.unstorable
    resource, found = _validate(data)
    known = {p.loc for p in found}
    found += [p for p in walked.unstorable if p.loc not in known]
    return (resource, []) if not found else (None, found)


def _validate(data: Any) -> tuple[kinds.Resource | None, list[problems.Problem]]:
    if not isinstance(data, dict):
        return None, [
            problems.Problem(
                (), "a document must be a mapping with apiVersion, kind, metadata and spec"
            )
        ]
    found = []
    api_version = data.get("apiVersion")
    if api_version != kinds.API_VERSION:
        message = (
            "required field missing"
            if api_version is None
            else f"must be {kinds.API_VERSION} (got {api_version!r})"
        )
        found.append(problems.Problem(("apiVersion",), message))
    kind_name = data.get("kind")
    kind = kinds.KINDS.get(kind_name) if isinstance(kind_name, str) else None
    if kind is None:
        known = ", ".join(kinds.KINDS)
        message = (
            f"required field missing (one of {known})"
            if kind_name is None
            else f"unknown kind {kind_name!r} (one of {known})"
        )
        found.append(problems.Problem(("kind",), message))
    if found or kind is None:
        return None, found
    try:
        resource = kind.model.model_validate(data)
    except pydantic.ValidationError as exc:
        # The type errors, then the cross-field rules they hid (`partial`), once each.
        errors = [*exc.errors(include_url=False), *partial.hidden_rule_errors(kind.model, data)]
        found = [_problem(kind.model, error) for error in errors]
        return None, list(dict.fromkeys(found))
    return typing.cast(kinds.Resource, resource), []


# --- pydantic errors → messages --------------------------------------------------------

_MAPPING_TYPES = {"model_type", "model_attributes_type", "dict_type"}
# A number or a boolean written as a YAML string ("10"): said so, with what to write.
_SCALAR_TYPES = {
    "int_type": "number",
    "int_parsing": "number",
    "float_type": "number",
    "float_parsing": "number",
    "bool_type": "boolean",
    "bool_parsing": "boolean",
}
# Messages that already say what is wrong, or whose input may be a credential (a
# header value, a URL with a password): the input is never quoted after them.
_SELF_EXPLAINED = {"rule", "template", "text", "too_large", "url", "header_value"}


def _problem(model: type[base.ApiModel], error: Any) -> problems.Problem:
    loc: problems.Loc = tuple(error["loc"])
    if loc and loc[-1] == "[key]":  # pydantic's marker for a bad mapping key
        loc = loc[:-1]
    kind = error["type"]
    if kind == "missing":
        return problems.Problem(loc, "required field missing")
    if kind == "invalid_key" and isinstance(error.get("input"), bool):
        return problems.Problem(
            loc[:-1],
            f"a key YAML reads as the boolean {str(error['input']).lower()} (on, off, yes,"
            " no, true, false unquoted): quote it, or see the field's real name",
        )
    if kind == "extra_forbidden":
        allowed = _fields_at(model, loc[:-1])
        hint = difflib.get_close_matches(str(loc[-1]), sorted(allowed), n=1)
        message = "unknown field" + (f" (did you mean {hint[0]}?)" if hint else "")
        if not hint and allowed:
            message += f" (known: {', '.join(sorted(allowed))})"
        return problems.Problem(loc, message)
    if kind in _MAPPING_TYPES:
        return problems.Problem(loc, "must be a mapping (key: value)")
    if kind == "list_type":
        return problems.Problem(loc, "must be a list")
    wanted = _SCALAR_TYPES.get(kind)
    quoted = base.quoted_scalar(error.get("input"), wanted) if wanted is not None else None
    if quoted is not None:
        return problems.Problem(loc, quoted)
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    if message.startswith("Input should be "):
        message = "must be " + message.removeprefix("Input should be ")
    given = error.get("input")
    if isinstance(given, str | int | float | bool) and kind not in _SELF_EXPLAINED:
        shown = repr(given) if not isinstance(given, str) or len(given) < 60 else ""
        if shown and str(given) not in message and shown not in message:
            message += f" (got {shown})"
    return problems.Problem(loc, message)


def _fields_at(model: type[base.ApiModel], loc: problems.Loc) -> set[str]:
    """The field names (aliases) of the model found by following `loc` from `model`."""
    annotation: Any = model
    for part in loc:
        annotation = _unwrap(annotation, isinstance(part, int))
        if not (isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel)):
            if isinstance(part, int):
                continue
            return set()
        if isinstance(part, int):
            continue
        field = next(
            (f for name, f in annotation.model_fields.items() if (f.alias or name) == part), None
        )
        if field is None:
            return set()
        annotation = field.annotation
    annotation = _unwrap(annotation, False)
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return {f.alias or name for name, f in annotation.model_fields.items()}
    return set()


def _unwrap(annotation: Any, into_items: bool) -> Any:
    """Strip Optional/Annotated, and list/dict when stepping into items."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        elif into_items and origin in (list, dict):
            annotation = typing.get_args(annotation)[-1]
            into_items = False
        else:
            return annotation


# --- line numbers --------------------------------------------------------------------


def _line_map(
    loader: yaml.SafeLoader, root: yaml.Node
) -> tuple[dict[problems.Loc, int], list[tuple[problems.Loc, int, str]]]:
    """The line of every field path under `root`, and the duplicate keys found."""
    lines: dict[problems.Loc, int] = {(): root.start_mark.line + 1}
    dupes: list[tuple[problems.Loc, int, str]] = []
    # Each node is walked once: an alias (or a recursive alias) is not walked again,
    # so its fields fall back to the line of the key that refers to it.
    visited: set[int] = set()
    stack: list[tuple[yaml.Node, problems.Loc]] = [(root, ())]
    while stack and len(visited) < _MAX_NODES:
        node, loc = stack.pop()
        if id(node) in visited:
            continue
        visited.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, value_node in node.value:
                key = _key(loader, key_node)
                if key is None:
                    continue
                line = key_node.start_mark.line + 1
                if key in seen and key != "<<":
                    dupes.append(((*loc, key), line, f"duplicate key (first at line {seen[key]})"))
                seen.setdefault(key, line)
                lines.setdefault((*loc, key), line)
                stack.append((value_node, (*loc, key)))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines.setdefault((*loc, i), item.start_mark.line + 1)
                stack.append((item, (*loc, i)))
    return lines, dupes


def _key(loader: yaml.SafeLoader, node: yaml.Node) -> str | int | None:
    if not isinstance(node, yaml.ScalarNode):
        return None
    try:
        value = loader.construct_object(node)
    except (yaml.YAMLError, ValueError, TypeError):
        return None
    if isinstance(value, bool):
        return str(node.value)
    return value if isinstance(value, str | int) else str(value)


def _line_of(lines: dict[problems.Loc, int], loc: problems.Loc, default: int) -> int:
    for end in range(len(loc), -1, -1):
        line = lines.get(loc[:end])
        if line is not None:
            return line
    return default


def format_loc(loc: problems.Loc) -> str:
    """`('spec', 'steps', 2, 'setWeight')` → `spec.steps[2].setWeight`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.replace("_", "").replace("-", "").isalnum():
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out
