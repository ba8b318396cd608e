"""Step arithmetic: which weight is in force, when a step ends, what comes next.

Steps are the policy's expanded steps (`RolloutPolicySpec.expanded_steps()`), indexed
from 0 as `status.stepIndex` counts them; index == len(steps) means "all steps done".

Pure; time is passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rollout.api import policyspec
from rollout.api.release import ReleaseStatus, Weights

__all__ = [
    "ends_at",
    "entered_phase_at",
    "gating_metrics",
    "is_indefinite_pause",
    "is_instant",
    "weight_at",
    "weights",
]


def weight_at(steps: Sequence[policyspec.Step], index: int) -> int:
    """The canary weight in force at step `index`: the last setWeight at or before it."""
    for step in reversed(steps[: index + 1]):
        if step.set_weight is not None:
            return step.set_weight
    return 0


def weights(canary: int) -> Weights:
    return Weights(stable=100 - canary, canary=canary)


def ends_at(step: policyspec.Step, started_at: datetime) -> datetime | None:
    """When a timed step (pause with duration, analysis) is over; None for the others."""
    if step.analysis is not None:
        return started_at + step.analysis.duration
    if step.pause is not None and step.pause.duration is not None:
        return started_at + step.pause.duration
    return None


def is_instant(step: policyspec.Step) -> bool:
    """A step that is done once the Route applies it: setWeight, setHeaderRoute,
    setMirror."""
    return (
        step.set_weight is not None
        or step.set_header_route is not None
        or step.set_mirror is not None
    )


def is_indefinite_pause(step: policyspec.Step) -> bool:
    return step.pause is not None and step.pause.duration is None


def gating_metrics(spec: policyspec.RolloutPolicySpec, step: policyspec.Step) -> list[str]:
    """The metrics an analysis step waits for (all of them unless it names some)."""
    if step.analysis is None:
        return []
    return list(step.analysis.metrics or spec.metric_names())


def entered_phase_at(status: ReleaseStatus, default: datetime) -> datetime:
    """When the release last entered its current phase: the first entry of the
    history's last run in it (notes — entries without a phase — do not end the run);
    `default` when the history has none (the start, for Pending). The progress
    deadlines of Pending (the canary getting ready) and of the end (the final weights
    applied) count from here — from the last progress, not from the release's start."""
    entered = default
    for entry in reversed(status.history):
        if entry.phase is None:
            continue
        if entry.phase is not status.phase:
            break
        entered = entry.at
    return entered
