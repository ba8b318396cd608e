"""The callbacks of the release state machine: what a row does once it fired.

One function per name the table uses in `after`, each changing the decision in progress
(`model.Model`): the working status (step, clock, weights and request rules, pause
reason, end) and the actions (`SetWeights`, as absolute weights). Entering a step asks
for its rules (`rules.for_step`: the header routes and mirrors in force, the sticky
session); promoting and rolling back ask for none — everyone goes to one revision, and
a sticky client of a rolled-back canary goes back to the stable. `record` is every
row's last callback: the row's event, as an action and a history entry, with its
message formatted by `rollout.release.messages`. Nothing here does I/O or raises once
the phase changed. Resolved by name by `rollout.release.engine` through `NAMED`.
"""

from __future__ import annotations

from collections.abc import Callable

from rollout.analysis import assess
from rollout.api import route
from rollout.api.release import PauseReason, StepEvidence
from rollout.release import actions, hooks, messages, rules, steps, table
from rollout.release.model import Model

__all__ = ["NAMED", "record"]

# History entries that raise traffic carry the evidence of the step they leave.
_WITH_EVIDENCE = frozenset({"StepAdvanced", "Promoting", "PromotedStep", "PromotedFull"})


def record(m: Model, row: table.Row) -> None:
    """Record `row`'s event (an action and a history entry): its last callback."""
    message = messages.event_message(m, row)
    m.actions.append(actions.Event(row.event, message, row.warning))
    evidence = m.left if row.event in _WITH_EVIDENCE else []
    m.history(row.event, message, row.dest, evidence)


# --- steps and traffic ------------------------------------------------------------------


def begin(m: Model) -> None:
    _enter_step(m, 0)


def advance_step(m: Model) -> None:
    _enter_step(m, m.status.step_index + 1)


def restart_step(m: Model) -> None:
    _enter_step(m, m.status.step_index)


def forget_evidence(m: Model) -> None:
    """`retry`: the step is judged on what comes after it — the sequential evidence
    that stopped it is dropped (readings count nothing from before the retry either:
    `schedule.fresh_since`)."""
    m.status.analysis = assess.forget_evidence(m.status.analysis)


def route_to_canary(m: Model) -> None:
    m.left = _step_evidence(m)
    m.route(100)
    m.ask_rules(route.Rules())


def route_to_stable(m: Model) -> None:
    m.route(0)
    m.ask_rules(route.Rules())


def finish(m: Model) -> None:
    m.status.finished_at = m.now
    m.status.pause_reason = None


def _enter_step(m: Model, index: int) -> None:
    """Start step `index` afresh: its clock, its counters, its weight and rules."""
    m.left = _step_evidence(m)
    m.status.step_index = index
    m.status.step_started_at = m.now
    m.status.analysis = assess.reset_step(m.status.analysis)
    m.status.webhooks = hooks.reset_step(m.status.webhooks, index)
    m.route(steps.weight_at(m.steps, index))
    m.ask_rules(rules.for_step(m.spec, m.steps, index, attempt=m.obs.attempt))


def _step_evidence(m: Model) -> list[StepEvidence]:
    """What the metrics of the step being left had shown: its gating metrics (all of
    the policy's when a human promotes from a step without analysis)."""
    step = m.step()
    names = steps.gating_metrics(m.policy, step) if step is not None else []
    if not names and m.by is not None:
        names = m.policy.metric_names()
    by_name = {s.metric: s for s in m.status.analysis}
    return [
        StepEvidence(
            metric=name,
            verdict=s.verdict,
            measurements=s.measurements,
            passes=s.passes,
            failures=s.failures,
            inconclusive=s.inconclusive,
            errors=s.errors,
            quiet=s.quiet,
            canary_requests=s.canary_requests,
        )
        for name in names
        if (s := by_name.get(name)) is not None
    ]


# --- pauses -----------------------------------------------------------------------------


def pause_for_user(m: Model) -> None:
    m.status.pause_reason = PauseReason.USER


def pause_for_failure(m: Model) -> None:
    m.status.pause_reason = PauseReason.FAILURE


def pause_for_errors(m: Model) -> None:
    m.status.pause_reason = PauseReason.ERRORS


def pause_for_inconclusive(m: Model) -> None:
    m.status.pause_reason = PauseReason.INCONCLUSIVE


def pause_for_promotion(m: Model) -> None:
    m.status.pause_reason = PauseReason.PROMOTION


def pause_for_confirmation(m: Model) -> None:
    m.status.pause_reason = PauseReason.CONFIRMATION


def override_gate(m: Model) -> None:
    """`promote --force`: the gate the release waits on counts as passed."""
    m.status.webhooks = hooks.override(m.policy, m.status, m.by)


def clear_pause(m: Model) -> None:
    m.status.pause_reason = None


NAMED: dict[str, Callable[[Model], None]] = {
    f.__name__: f
    for f in (
        begin,
        advance_step,
        restart_step,
        forget_evidence,
        route_to_canary,
        route_to_stable,
        finish,
        pause_for_user,
        pause_for_failure,
        pause_for_errors,
        pause_for_inconclusive,
        pause_for_promotion,
        pause_for_confirmation,
        override_gate,
        clear_pause,
    )
}
