"""Validation rules that look across fields report `Problem`s at exact field paths.

A rule is a pure function from a model to a list of `Problem(loc, message)`. A model
runs its rules in an after-validator and calls `raise_problems`, which raises one
pydantic `ValidationError` with every problem at its own location; pydantic prefixes
the locations of nested models, so a rule of a policy step reports
`spec.steps[3].setWeight` without knowing where the step sits.

Pure; no I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

__all__ = ["Loc", "Problem", "raise_problems"]

Loc = tuple[str | int, ...]


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
