"""The transitions of the release state machine, as data (DESIGN §4).

One `Row` per transition: a name (each has a test named after it), the trigger, the
phases it leaves from, the phase it enters, the conditions that must hold (and those
that must not), the callbacks that run after it, the event reason it records and the
template of that event's message. Rows of the same trigger and source are tried in
order; the first whose conditions hold wins. Conditions are names of functions of
`rollout.release.conditions`, callbacks of `rollout.release.effects`; the fields a
message template may use are listed in `rollout.release.messages.FIELDS`. A new row is
one edit here (plus its test).

The table is also the one owner of which command applies when: `can_fire(trigger,
phase)` says whether any row of a trigger leaves a phase. The engine fires commands
through the machine, which consults these rows; the CLI's intents
(`rollout.release.commands`) ask `can_fire` before writing one, so the two cannot
disagree. Terminal phases have no rows: a terminal release never changes.

Pure data. Read by the engine, the commands, and `rollout diagram`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from rollout.api.release import Phase
from rollout.release.triggers import Trigger

__all__ = ["ACTIVE", "DEFAULT_MESSAGE", "ROWS", "Row", "as_transitions", "can_fire", "rows_from"]

P = Phase
T = Trigger
ACTIVE = (P.PENDING, P.PROGRESSING, P.PAUSED, P.PROMOTING, P.ROLLING_BACK)
RUNNING = (P.PROGRESSING, P.PAUSED)
# The event and, once traffic moved, the split: "Promoted: stable 0% / canary 100%".
DEFAULT_MESSAGE = "{event}{split}"


@dataclasses.dataclass(frozen=True)
class Row:
    name: str
    trigger: Trigger
    source: tuple[Phase, ...]
    dest: Phase
    conditions: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    event: str = ""
    warning: bool = False
    message: str = DEFAULT_MESSAGE  # a `str.format` template over `messages.FIELDS`


ROWS: tuple[Row, ...] = (
    # --- commands -------------------------------------------------------------------
    Row("supersede", T.SUPERSEDE, ACTIVE, P.SUPERSEDED,
        after=("route_to_stable", "finish"), event="Superseded", warning=True,
        message="superseded by {superseded_by}"),
    Row("abort-pending", T.ABORT, (P.PENDING,), P.ABORTED,
        after=("route_to_stable", "finish"), event="Aborted", warning=True,
        message="aborted by {by}"),
    Row("abort", T.ABORT, (*RUNNING, P.PROMOTING), P.ROLLING_BACK,
        after=("route_to_stable",), event="AbortRequested", warning=True,
        message="aborted by {by}"),
    # A full promotion applies wherever the CLI offers it, Pending included (the canary
    # must be ready); one step only from Paused: while Progressing the step moves on its
    # own, so the step a promote names would be stale (the CLI says to use --full).
    # A confirm-* webhook gate the release waits on holds every promote but a forced
    # one (`promote --force`), which takes the gate as passed. A full promotion skips
    # the plan, so in a policy with gates it needs --force whether or not one waits.
    Row("promote-full", T.PROMOTE_FULL, (P.PENDING, *RUNNING), P.PROMOTING,
        conditions=("canary_ready",), unless=("gated_plan",),
        after=("override_gate", "clear_pause", "route_to_canary"), event="PromotedFull"),
    # Forced over confirm-rollout (no traffic moved yet): back to Pending, where the
    # pre-rollout checks still run before the first shift.
    Row("promote-over-rollout-gate", T.PROMOTE, (P.PAUSED,), P.PENDING,
        conditions=("promote_matches_step", "waiting_for_confirmation", "no_traffic_yet"),
        unless=("gate_holds",), after=("override_gate", "clear_pause"),
        event="PromotedStep", message="confirm-rollout overridden by {by}"),
    # A person's promote is one more yes, not a way around a gate: a promote whose
    # increase a gate has not confirmed waits for it (then the gate's yes promotes).
    Row("promote-awaits-gate", T.PROMOTE, (P.PAUSED,), P.PAUSED,
        conditions=("promote_matches_step",),
        unless=("gate_confirmed", "waiting_for_confirmation", "forced"),
        after=("pause_for_confirmation",), event="WaitingForConfirmation", message="{gate}"),
    Row("promote-last-step", T.PROMOTE, (P.PAUSED,), P.PROMOTING,
        conditions=("promote_matches_step", "at_last_step"), unless=("gate_holds",),
        after=("override_gate", "clear_pause", "route_to_canary"), event="PromotedStep"),
    Row("promote-step", T.PROMOTE, (P.PAUSED,), P.PROGRESSING,
        conditions=("promote_matches_step",), unless=("gate_holds",),
        after=("override_gate", "clear_pause", "advance_step"),
        event="PromotedStep", message="step {step}: {step_text}"),
    Row("pause", T.PAUSE, (P.PROGRESSING,), P.PAUSED,
        after=("pause_for_user",), event="Paused"),
    Row("unpause-at-pause-step", T.RESUME, (P.PAUSED,), P.PAUSED,
        conditions=("at_pause_step", "unpaused_by_user"), after=("pause_for_promotion",),
        event="WaitingForPromotion", message="waiting for `rollout promote` at a pause step"),
    # A release waiting for a confirm-* webhook goes on when it says yes (or on a
    # forced promote), never on resume or retry.
    Row("resume", T.RESUME, (P.PAUSED,), P.PROGRESSING,
        unless=("at_pause_step", "waiting_for_confirmation"),
        after=("clear_pause", "restart_step"), event="Resumed"),
    # A retried step is judged on fresh data: not on the evidence that stopped it, nor
    # on readings of data from before the retry (`schedule.fresh_since`).
    Row("retry", T.RETRY, (P.PAUSED,), P.PROGRESSING,
        unless=("at_pause_step", "waiting_for_confirmation"),
        after=("clear_pause", "restart_step", "forget_evidence"), event="Retried"),
    # --- ticks: waiting for the canary ---------------------------------------------
    # The first shift needs the canary ready, every confirm-rollout webhook's yes and
    # every pre-rollout webhook's 2xx.
    Row("start", T.TICK, (P.PENDING,), P.PROGRESSING,
        conditions=("canary_ready", "rollout_confirmed", "pre_rollout_passed"),
        after=("begin",), event="ReleaseStarted", message="step {step}: {step_text}"),
    Row("wait-for-rollout-confirmation", T.TICK, (P.PENDING,), P.PAUSED,
        conditions=("canary_ready",), unless=("rollout_confirmed",),
        after=("pause_for_confirmation",), event="WaitingForConfirmation", message="{gate}"),
    Row("pre-rollout-failed", T.TICK, (P.PENDING,), P.ROLLING_BACK,
        conditions=("pre_rollout_failed",), after=("route_to_stable",),
        event="PreRolloutFailed", warning=True, message="{pre_rollout_failed}"),
    Row("canary-failed-pending", T.TICK, (P.PENDING,), P.FAILED,
        conditions=("canary_broken",), after=("route_to_stable", "finish"),
        event="CanaryFailed", warning=True, message="canary {canary} failed: {failure}"),
    Row("readiness-deadline", T.TICK, (P.PENDING,), P.FAILED,
        conditions=("deadline_passed",), unless=("canary_ready",),
        after=("route_to_stable", "finish"),
        event="ProgressDeadlineExceeded", warning=True,
        message="canary {canary} not ready within {deadline}"),
    # --- ticks: waiting for a confirm-* webhook ---------------------------------------
    Row("rollout-confirmed", T.TICK, (P.PAUSED,), P.PENDING,
        conditions=("waiting_for_confirmation", "no_traffic_yet", "rollout_confirmed"),
        unless=("paused_by_spec",), after=("clear_pause",), event="Confirmed",
        message="confirm-rollout said yes"),
    Row("confirmed-promote-last-step", T.TICK, (P.PAUSED,), P.PROMOTING,
        conditions=("waiting_for_confirmation", "gate_confirmed", "promote_matches_step",
                    "at_last_step"),
        unless=("no_traffic_yet", "paused_by_spec"), after=("clear_pause", "route_to_canary"),
        event="Confirmed", message="{confirmed} said yes: promoting"),
    Row("confirmed-promote-step", T.TICK, (P.PAUSED,), P.PROGRESSING,
        conditions=("waiting_for_confirmation", "gate_confirmed", "promote_matches_step"),
        unless=("no_traffic_yet", "paused_by_spec"), after=("clear_pause", "advance_step"),
        event="Confirmed", message="{confirmed} said yes: step {step}: {step_text}"),
    Row("confirmed", T.TICK, (P.PAUSED,), P.PROGRESSING,
        conditions=("waiting_for_confirmation", "gate_confirmed"),
        unless=("no_traffic_yet", "paused_by_spec"), after=("clear_pause",),
        event="Confirmed", message="{confirmed} said yes"),
    # --- ticks: running -------------------------------------------------------------
    Row("rollback-requested", T.TICK, RUNNING, P.ROLLING_BACK,
        conditions=("rollback_requested",), after=("route_to_stable",),
        event="RollbackRequested", warning=True,
        message="the rollback webhook {rollback_hook} answered 2xx"),
    Row("canary-failed", T.TICK, RUNNING, P.ROLLING_BACK,
        conditions=("canary_broken",), after=("route_to_stable",),
        event="CanaryFailed", warning=True, message="canary {canary} failed: {failure}"),
    Row("analysis-failed", T.TICK, RUNNING, P.ROLLING_BACK,
        conditions=("analysis_failed",), unless=("pause_on_failure",),
        after=("route_to_stable",), event="AnalysisFailed", warning=True,
        message="{failed}"),
    Row("analysis-failed-pause", T.TICK, (P.PROGRESSING,), P.PAUSED,
        conditions=("analysis_failed", "pause_on_failure"), after=("pause_for_failure",),
        event="AnalysisFailed", warning=True, message="{failed}"),
    Row("analysis-errors", T.TICK, (P.PROGRESSING,), P.PAUSED,
        conditions=("error_limit",), after=("pause_for_errors",),
        event="AnalysisErrors", warning=True, message="provider errors: {errors}"),
    Row("analysis-inconclusive", T.TICK, (P.PROGRESSING,), P.PAUSED,
        conditions=("inconclusive_limit",), after=("pause_for_inconclusive",),
        event="AnalysisInconclusive", warning=True, message="inconclusive: {inconclusive}"),
    # Not in effect within the deadline because of the route itself (a gateway refused
    # it, or never took it): rolling back would need the same route, so the release
    # fails at once, with the gateway's word, and the Service goes back to stable.
    Row("route-not-in-effect", T.TICK, (P.PROGRESSING,), P.FAILED,
        conditions=("weights_stuck", "route_broken"), after=("route_to_stable", "finish"),
        event="ProgressDeadlineExceeded", warning=True,
        message="traffic weights were not in effect within {deadline}: {route_problem}"),
    Row("weights-stuck", T.TICK, (P.PROGRESSING,), P.ROLLING_BACK,
        conditions=("weights_stuck",), after=("route_to_stable",),
        event="ProgressDeadlineExceeded", warning=True,
        message="traffic weights were not applied within the progress deadline{rules_held}"),
    Row("wait-at-pause-step", T.TICK, (P.PROGRESSING,), P.PAUSED,
        conditions=("at_pause_step", "weights_applied"), after=("pause_for_promotion",),
        event="WaitingForPromotion"),
    Row("wait-for-confirmation", T.TICK, (P.PROGRESSING,), P.PAUSED,
        conditions=("step_done",), unless=("gate_confirmed",),
        after=("pause_for_confirmation",), event="WaitingForConfirmation", message="{gate}"),
    Row("last-step-done", T.TICK, (P.PROGRESSING,), P.PROMOTING,
        conditions=("step_done", "at_last_step", "gate_confirmed"), after=("route_to_canary",),
        event="Promoting"),
    Row("step-done", T.TICK, (P.PROGRESSING,), P.PROGRESSING,
        conditions=("step_done", "gate_confirmed"), after=("advance_step",),
        event="StepAdvanced", message="step {step}: {step_text}"),
    # --- ticks: moving traffic to the end -------------------------------------------
    # The final split refused by the route itself (a gateway refused the route after the
    # promotion or the rollback began): the release ends, with the gateway's word.
    Row("route-not-in-effect-ending", T.TICK, (P.PROMOTING, P.ROLLING_BACK), P.FAILED,
        conditions=("ending_stuck", "route_broken"), after=("route_to_stable", "finish"),
        event="ProgressDeadlineExceeded", warning=True,
        message="traffic weights were not in effect within {deadline}: {route_problem}"),
    Row("promoted", T.TICK, (P.PROMOTING,), P.SUCCEEDED,
        conditions=("weights_applied",), after=("finish",), event="Promoted"),
    Row("aborted", T.TICK, (P.ROLLING_BACK,), P.ABORTED,
        conditions=("weights_applied", "abort_requested"), after=("finish",),
        event="Aborted", warning=True),
    Row("rolled-back", T.TICK, (P.ROLLING_BACK,), P.ROLLED_BACK,
        conditions=("weights_applied",), after=("finish",), event="RolledBack", warning=True),
)  # fmt: skip


_SOURCES = {row.name: [p.value for p in row.source] for row in ROWS}
_FROM: dict[tuple[Trigger, Phase], tuple[Row, ...]] = {
    (trigger, phase): tuple(r for r in ROWS if r.trigger is trigger and phase in r.source)
    for trigger in Trigger
    for phase in Phase
}


def rows_from(trigger: Trigger, phase: Phase) -> tuple[Row, ...]:
    """The rows of `trigger` that leave `phase`, in the order they are tried."""
    return _FROM[trigger, phase]


def can_fire(trigger: Trigger, phase: Phase) -> bool:
    """Whether `trigger` can move a release in `phase` at all (some row of it leaves
    `phase`; its conditions decide the rest): the applicability of a command."""
    return bool(_FROM[trigger, phase])


def as_transitions(
    resolve: Callable[[str], Callable[..., Any]],
    record: Callable[[Row], Callable[..., Any]],
) -> list[dict[str, Any]]:
    """The rows in the shape `transitions.Machine` takes.

    `resolve` turns a condition or callback name into a bound method of the model;
    `record(row)` is the callback that records the row's event and history entry.
    """
    return [
        {
            "trigger": row.trigger.value,
            "source": _SOURCES[row.name],
            "dest": row.dest.value,
            "conditions": [resolve(c) for c in row.conditions],
            "unless": [resolve(c) for c in row.unless],
            "after": [*(resolve(c) for c in row.after), record(row)],
        }
        for row in ROWS
    ]
