"""The cross-field rules that type errors would hide, run over the parts that are well-typed.

Pydantic runs a model's after-validators — where every cross-field rule lives (split
sums, policy plus traffic, minReplicas ≤ maxReplicas, setWeight never lower, …) —
only when all of the model's fields validated. One type error anywhere in a Service
(`port: "8080"`) would hide that its `traffic` sums to 90 until the next run. So when
a document fails, the loader (`documents`) also calls `hidden_rule_errors`, which
rebuilds the document bottom-up and runs each model's own rules on what it can build:

- a field that validates alone (a `TypeAdapter` of its annotation) gets its value;
- a field holding a model (or a list of them) that does not validate is rebuilt the
  same way, recursively, its own rules run on what was rebuilt;
- any other field that does not validate, or a required one that is missing, is set
  to `UNUSABLE`: a value every use of which (an attribute, a comparison, arithmetic,
  iteration, truth, formatting) raises `problems.Unusable`. `x is None` still says
  "given", which is what it was.

A rule that touches an `UNUSABLE` value is one the type errors make meaningless: it
is dropped (`problems.gather` drops it alone, when a validator runs its rules
through it; otherwise the validator's whole result is dropped). The others report
as they would once the type errors are fixed. A rebuilt model reaches its parent's
rules only when its own rules all ran and passed (the parent may rely on what they
ensure: `CanaryShorthand.expand` loops on a stepWeight of 0), and not when it has an
unknown field (perhaps a typo of one its rules read: `setWieght`) — else it is
`UNUSABLE` to the parent.

Why this shape: one source of truth. The rules are the models' own validators,
called as they are (`__pydantic_decorators__`), never a second copy written over raw
mappings; which fields a rule needs is found by running it, not declared beside it.
A model with a `before` validator (it reshapes its input) is not rebuilt: it is
`UNUSABLE` as a whole when it fails.

Best effort by design: the type errors are already reported; any exception a rule
raises on a rebuilt object drops that rule. Pure; no I/O. Called by `documents`.
"""

from __future__ import annotations

import functools
import types
import typing
from typing import Any, NoReturn

import pydantic
from pydantic_core import PydanticCustomError

from rollout.api import base, problems

__all__ = ["UNUSABLE", "hidden_rule_errors"]

Error = dict[str, Any]  # a pydantic error: type, loc, msg, input


class _Unusable:
    """A value that did not validate: every use raises `problems.Unusable`."""

    __slots__ = ()

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise problems.Unusable

    __getattr__ = _refuse
    __getitem__ = __iter__ = __len__ = __contains__ = __bool__ = __hash__ = _refuse
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _refuse
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _refuse
    __truediv__ = __rtruediv__ = __floordiv__ = __mod__ = __neg__ = __abs__ = _refuse
    __int__ = __float__ = __index__ = __round__ = _refuse
    __str__ = __repr__ = __format__ = _refuse


UNUSABLE: Any = _Unusable()


def hidden_rule_errors(model: type[base.ApiModel], data: Any) -> list[Error]:
    """The errors of `model`'s rules (and its parts') on the well-typed parts of `data`,
    as pydantic error dicts with their full `loc` — some may repeat what validating
    `data` already said (rules of parts that validated): the caller drops repeats."""
    _, found = _build(model, data)
    return found


def _build(model: type[base.ApiModel], data: Any) -> tuple[Any, list[Error]]:
    """`data` as a `model`: validated, or rebuilt from its well-typed fields (with the
    errors of the rules run on it), or `UNUSABLE`."""
    try:
        return model.model_validate(data), []
    except pydantic.ValidationError:
        pass
    if not isinstance(data, dict) or _reshapes(model):
        return UNUSABLE, []
    values: dict[str, Any] = {}
    found: list[Error] = []
    known: set[str] = set()
    for name, field in model.model_fields.items():
        key = field.alias or name
        known.update((key, name))
        if key in data or name in data:
            value, errors = _field(model, name, data[key] if key in data else data[name])
            values[name] = value
            found += _under(key, errors)
        elif field.is_required():
            values[name] = UNUSABLE
    if any(key not in known for key in data):
        # An unknown field may be a typo of one a rule reads (`setWieght`): the rules
        # would judge the object without it. Its parts' rules have run.
        return UNUSABLE, found
    obj = model.model_construct(**values)
    errors, complete = _rules(model, obj)
    # The parent's rules (and methods: `CanaryShorthand.expand`) may rely on what this
    # model's rules ensure: it gets the object only when they all ran and passed.
    return (obj if complete and not errors else UNUSABLE), found + errors


def _field(model: type[base.ApiModel], name: str, raw: Any) -> tuple[Any, list[Error]]:
    try:
        return _adapter(model, name).validate_python(raw), []
    except pydantic.ValidationError:
        pass
    inner, many = _model_in(model.model_fields[name].annotation)
    if inner is None:
        return UNUSABLE, []
    if not many:
        return _build(inner, raw)
    if not isinstance(raw, list):
        return UNUSABLE, []
    items, found = [], []
    for i, item in enumerate(raw):
        value, errors = _build(inner, item)
        items.append(value)
        found += _under(i, errors)
    return items, found


def _rules(model: type[base.ApiModel], obj: Any) -> tuple[list[Error], bool]:
    """Run the model's after-validators on `obj`: what they raise, as error dicts, and
    whether every one of them ran to its end."""
    found: list[Error] = []
    complete = True
    for decorator in model.__pydantic_decorators__.model_validators.values():
        if decorator.info.mode != "after":
            continue
        try:
            decorator.func(obj)
        except pydantic.ValidationError as exc:
            errors = exc.errors(include_url=False)
            if exc.title == model.__name__ and all(e["type"] == "rule" for e in errors):
                found += [dict(e) for e in errors]  # `problems.raise_problems` of this model
            else:  # a model the rule built from an `UNUSABLE` value refused it
                complete = False
        except PydanticCustomError as exc:
            found.append({"type": exc.type, "loc": (), "msg": exc.message(), "input": None})
        except Exception:  # `Unusable` (the rule needs a value that is not
            # well-typed: meaningless), or anything a rule raises on a rebuilt object:
            # best effort, the rule is left out
            complete = False
    return found, complete


def _under(key: str | int, errors: list[Error]) -> list[Error]:
    return [{**e, "loc": (key, *e["loc"])} for e in errors]


def _reshapes(model: type[base.ApiModel]) -> bool:
    """True when a validator of `model` sees its input before the fields do."""
    return any(
        d.info.mode in ("before", "wrap")
        for d in model.__pydantic_decorators__.model_validators.values()
    )


@functools.lru_cache(maxsize=512)
def _adapter(model: type[base.ApiModel], name: str) -> pydantic.TypeAdapter[Any]:
    """A validator for one field alone (its annotation and its constraints)."""
    field = model.model_fields[name]
    annotation: Any = field.annotation
    if field.metadata:
        annotation = typing.Annotated[(annotation, *field.metadata)]
    if _model_in(field.annotation) == (None, False):
        # The models' float rule (no NaN, no infinity) for a plain value.
        config = pydantic.ConfigDict(allow_inf_nan=False)
        return pydantic.TypeAdapter(annotation, config=config)
    return pydantic.TypeAdapter(annotation)


def _model_in(annotation: Any) -> tuple[type[base.ApiModel] | None, bool]:
    """The model a field holds — `M`, `M | None`, `list[M]`, `list[M] | None` — and
    whether it is a list of them; `(None, False)` for anything else."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return None, False
            annotation = args[0]
        else:
            break
    many = typing.get_origin(annotation) is list
    if many:
        annotation = typing.get_args(annotation)[0]
        while typing.get_origin(annotation) is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
    if isinstance(annotation, type) and issubclass(annotation, base.ApiModel):
        return annotation, many
    return None, False
