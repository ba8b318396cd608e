"""Status conditions in the Kubernetes shape, and the helpers that set them.

Reconcilers never assemble condition dicts by hand. The status models of Service,
Revision and Route mix in `ReadyConditions` and say what happened with their own
`mark_*` methods (Knative style: `rev.status.mark_ready(...)`), each with its reason
spelled once on the type; underneath, `set_condition` keeps `lastTransitionTime`
when the status did not change (so a condition that stays False for an hour says so)
and replaces the condition of the same type.

Pure; time is passed in. Called by reconcilers and by the release engine.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Protocol

from rollout.api import base

__all__ = [
    "INVALID_SPEC",
    "Condition",
    "ConditionStatus",
    "ConditionType",
    "ReadyConditions",
    "get_condition",
    "invalid_spec",
    "is_true",
    "set_condition",
]

# The Ready reason of a stored object whose spec our model refuses (the controller's,
# for any kind with a status: `rollout.controller.invalid`).
INVALID_SPEC = "InvalidSpec"


class ConditionStatus(enum.StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class ConditionType(enum.StrEnum):
    """Condition types used across resources (Knative's names where they exist)."""

    READY = "Ready"
    ACTIVE = "Active"  # a Revision: whether replicas run for it (Knative's Active)
    REVISIONS_READY = "RevisionsReady"
    ROUTES_READY = "RoutesReady"
    VALID = "Valid"
    PROGRESSING = "Progressing"
    TRAFFIC_APPLIED = "TrafficApplied"
    IGNORED_ON_LOCAL = "IgnoredOnLocal"  # a Revision's: template fields the local platform ignores


class Condition(base.ApiModel):
    """One observation of one aspect of a resource, as in Kubernetes."""

    type: str
    """The aspect observed, such as Ready."""
    status: ConditionStatus
    """True, False or Unknown."""
    reason: str = ""
    """A one-word CamelCase reason for the status."""
    message: str = ""
    """A human-readable explanation of the status."""
    last_transition_time: datetime | None = None
    """When the status last changed."""
    observed_generation: base.Int | None = None
    """The generation of the spec the condition was set from."""


def get_condition(conditions: list[Condition], type_: str) -> Condition | None:
    """The condition of the given type, or None."""
    return next((c for c in conditions if c.type == type_), None)


def is_true(conditions: list[Condition], type_: str) -> bool:
    """True when the condition exists and its status is True."""
    condition = get_condition(conditions, type_)
    return condition is not None and condition.status is ConditionStatus.TRUE


def set_condition(
    conditions: list[Condition],
    *,
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    now: datetime,
    observed_generation: int | None = None,
) -> list[Condition]:
    """A new list with the condition of `type_` set; other conditions are kept.

    `lastTransitionTime` moves only when the status changes.
    """
    old = get_condition(conditions, type_)
    transition = now if old is None or old.status != status else old.last_transition_time
    new = Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=transition,
        observed_generation=observed_generation,
    )
    return [new if c.type == type_ else c for c in conditions] if old else [*conditions, new]


class _HasConditions(Protocol):
    conditions: list[Condition]


class ReadyConditions:
    """The Ready condition of a status model (mixed into ServiceStatus, RevisionStatus and
    RouteStatus, which add their `mark_*` methods on top)."""

    def ready_condition(self: _HasConditions) -> Condition | None:
        return get_condition(self.conditions, ConditionType.READY)

    def set_ready(
        self: _HasConditions,
        status: ConditionStatus,
        reason: str,
        message: str,
        *,
        now: datetime,
        generation: int | None,
    ) -> None:
        self.conditions = set_condition(
            self.conditions,
            type_=ConditionType.READY,
            status=status,
            reason=reason,
            message=message,
            now=now,
            observed_generation=generation,
        )


def invalid_spec(
    old: Condition | None, message: str, *, now: datetime, generation: int | None
) -> Condition:
    """The Ready condition of an object whose spec does not validate (`old`: its Ready
    condition now, for `lastTransitionTime`)."""
    (ready,) = set_condition(
        [old] if old is not None else [],
        type_=ConditionType.READY,
        status=ConditionStatus.FALSE,
        reason=INVALID_SPEC,
        message=message,
        now=now,
        observed_generation=generation,
    )
    return ready
