"""Validation rules that look across fields report `Problem`s at exact field paths.

A rule is a pure function from a model to a list of `Problem(loc, message)`. A model
runs its rules in an after-validator and calls `raise_problems`, which raises one
pydantic `ValidationError` with every problem at its own location; pydantic prefixes
the locations of nested models, so a rule of a policy step reports
`spec.steps[3].setWeight` without knowing where the step sits.

A model with several independent rules runs them through `gather`: when the loader
runs the rules over a document with type errors (`partial`), a rule that needs a
value that is not well-typed raises `Unusable`, and `gather` drops that rule alone —
the others still report in the same pass.

Pure; no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import TypeVar

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

__all__ = ["Loc", "Problem", "Unusable", "gather", "raise_problems"]

Loc = tuple[str | int, ...]
T = TypeVar("T")


class Unusable(Exception):  # a signal caught by `gather`, never reported
    """A rule used a value that did not validate (`partial.UNUSABLE`): its answer would
    mean nothing."""


@dataclasses.dataclass(frozen=True)
class Problem:
    """One broken rule: where (a path of field aliases and list indexes) and why."""

    loc: Loc
    message: str


def raise_problems(title: str, problems: Iterable[Problem]) -> None:
    """Raise a ValidationError holding every problem; do nothing when there are none."""
    details = [
        InitErrorDetails(
            type=PydanticCustomError("rule", "{message}", {"message": p.message}),
            loc=p.loc,
            input=None,
        )
        for p in problems
    ]
    if details:
        raise ValidationError.from_exception_data(title, details)


def gather(obj: T, *rules: Callable[[T], list[Problem]]) -> list[Problem]:
    """Every problem the `rules` find in `obj`, leaving out the rules that need a value
    that is not well-typed (`Unusable`: only on a document rebuilt by `partial`)."""
    found: list[Problem] = []
    for rule in rules:
        try:
            found += rule(obj)
        except Unusable:
            continue
    return found
