"""The conditions of the release state machine: may a row of `table.ROWS` fire?

One function per name the table uses in `conditions` and `unless`, each a predicate of
the decision in progress (`model.Model`). They read the frozen observation and the
working status only — never change either, never do I/O: `transitions` runs
conditions whenever it tries a row, so a condition must be safe to run any number of
times. Resolved by name by `rollout.release.engine` through `NAMED`.
"""

from __future__ import annotations

from collections.abc import Callable

from rollout.api import policyspec
from rollout.api.hookspec import WebhookType
from rollout.api.release import PauseReason
from rollout.release import hooks, rules, steps
from rollout.release.model import Model

__all__ = ["NAMED"]


def canary_ready(m: Model) -> bool:
    return m.obs.canary_ready


def canary_broken(m: Model) -> bool:
    return m.obs.canary_failure is not None


def deadline_passed(m: Model) -> bool:
    """Pending for the progress deadline since its last entry into Pending (its start,
    or a confirm-rollout gate's yes that brought it back)."""
    started = steps.entered_phase_at(m.status, m.status.started_at or m.now)
    return m.now >= started + m.policy.progress_deadline


def analysis_failed(m: Model) -> bool:
    """A metric, or a `rollout` webhook (a check like a metric), failed in the step."""
    return bool(m.gate().failed) or bool(hooks.checks_failed(m.policy, m.status))


def error_limit(m: Model) -> bool:
    return bool(m.gate().errors)


def inconclusive_limit(m: Model) -> bool:
    return bool(m.gate().inconclusive)


def pause_on_failure(m: Model) -> bool:
    return m.policy.rollback.on_failure is policyspec.OnFailure.PAUSE


def weights_applied(m: Model) -> bool:
    """The Route reads back the weights *and* the request rules the status asks for (a
    step's header route or mirror counts as in force only once the data plane has it)."""
    return (
        m.obs.applied is not None
        and m.obs.applied == m.status.weights
        and rules.applied(m.status, m.obs.applied_rules)
    )


def weights_ahead(m: Model) -> bool:
    """The router already has the next step's weights and rules: the decision that set
    them was not persisted (a failed or lost status write). Deciding again redoes it."""
    index = m.status.step_index + 1
    if m.obs.applied is None or index >= len(m.steps):
        return False
    next_weights = steps.weights(steps.weight_at(m.steps, index))
    next_rules = rules.for_step(m.spec, m.steps, index, attempt=m.obs.attempt)
    return m.obs.applied == next_weights and next_rules.difference(m.obs.applied_rules) is None


def weights_stuck(m: Model) -> bool:
    started = m.status.step_started_at or m.now
    return not weights_applied(m) and m.now >= started + m.policy.progress_deadline


def ending_stuck(m: Model) -> bool:
    """Promoting or rolling back, the final weights not applied within the progress
    deadline of entering the phase (the first entry of the history's last run in it)."""
    entered = steps.entered_phase_at(m.status, m.now)
    return not weights_applied(m) and m.now >= entered + m.policy.progress_deadline


def route_broken(m: Model) -> bool:
    """The Route's router says why its split is not in effect (a gateway refused it,
    or has not taken it)."""
    return m.obs.route_problem is not None


def _raises_traffic(m: Model) -> bool:
    """Whether ending this step gives the canary more traffic (the last step ends in
    promotion: 100%)."""
    index = m.status.step_index
    after = 100 if index >= len(m.steps) - 1 else steps.weight_at(m.steps, index + 1)
    return after > steps.weight_at(m.steps, index)


def at_pause_step(m: Model) -> bool:
    step = m.step()
    return step is not None and steps.is_indefinite_pause(step)


def at_last_step(m: Model) -> bool:
    return m.status.step_index >= len(m.steps) - 1


def abort_requested(m: Model) -> bool:
    return m.spec.abort


def promote_matches_step(m: Model) -> bool:
    promote = m.spec.promote  # without fromStep (an old or hand-written one): the current
    return promote is not None and promote.from_step in (None, m.status.step_index)


def unpaused_by_user(m: Model) -> bool:
    return m.status.pause_reason == PauseReason.USER


# --- webhooks (`rollout.release.hooks`) ---------------------------------------------


def rollout_confirmed(m: Model) -> bool:
    return hooks.confirmed(m.policy, m.status, WebhookType.CONFIRM_ROLLOUT)


def pre_rollout_passed(m: Model) -> bool:
    return hooks.confirmed(m.policy, m.status, WebhookType.PRE_ROLLOUT)


def pre_rollout_failed(m: Model) -> bool:
    return bool(hooks.pre_rollout_failed(m.policy, m.status))


def rollback_requested(m: Model) -> bool:
    return hooks.rollback_requested(m.policy, m.status) is not None


def waiting_for_confirmation(m: Model) -> bool:
    return m.status.pause_reason == PauseReason.CONFIRMATION


def no_traffic_yet(m: Model) -> bool:
    return m.status.weights is None


def paused_by_spec(m: Model) -> bool:
    return m.spec.paused


def gate_holds(m: Model) -> bool:
    """A confirm-* gate the release waits on stands in the way of a promote (one
    without `--force`)."""
    return waiting_for_confirmation(m) and not forced(m)


def forced(m: Model) -> bool:
    promote = m.spec.promote
    return promote is not None and promote.force


def gated_plan(m: Model) -> bool:
    """The policy has confirm-* gates, which a full promotion (not forced) would skip."""
    return any(h.gate for h in m.policy.webhooks) and not forced(m)


def gate_confirmed(m: Model) -> bool:
    """The gate before leaving this step said yes (or there is none): confirm-promotion
    at the last step, confirm-traffic-increase where the step's end raises traffic."""
    if at_last_step(m):
        return hooks.confirmed(m.policy, m.status, WebhookType.CONFIRM_PROMOTION)
    if not _raises_traffic(m):
        return True
    return hooks.confirmed(m.policy, m.status, WebhookType.CONFIRM_TRAFFIC_INCREASE)


def step_done(m: Model) -> bool:
    """The current step is over and the release may leave it (evidence before any
    increase: README "How a release decides")."""
    step = m.step()
    if step is None or not (weights_applied(m) or weights_ahead(m)):
        return step is None
    # A provider is failing, a reading due is still being taken (the latest one is
    # stale), or the canary is not serving (it crashed and is being restarted): no
    # evidence for more traffic, and none it could serve.
    blind = m.gate().blind or m.obs.in_flight or not m.obs.canary_ready
    if blind and _raises_traffic(m) and not weights_ahead(m):
        return False
    if not hooks.checks_passed(m.policy, m.status, step) and not weights_ahead(m):
        return False  # a rollout webhook (a load or smoke test) has not said yes yet
    if steps.is_instant(step):
        return True
    started = m.status.step_started_at or m.now
    end = steps.ends_at(step, started)
    if end is None:
        return False
    if step.analysis is None:
        return m.now >= end
    gate = m.gate()
    analysis = m.policy.analysis
    if analysis is not None and analysis.advance_early and gate.early:
        return True
    longest = step.analysis.max_duration
    if gate.suspect and longest is not None and m.now < started + longest:
        return False  # a regression is suspected: keep observing at this weight
    return gate.passed and m.now >= end


NAMED: dict[str, Callable[[Model], bool]] = {
    f.__name__: f
    for f in (
        canary_ready,
        canary_broken,
        deadline_passed,
        analysis_failed,
        error_limit,
        inconclusive_limit,
        pause_on_failure,
        weights_applied,
        weights_stuck,
        route_broken,
        ending_stuck,
        at_pause_step,
        at_last_step,
        abort_requested,
        promote_matches_step,
        unpaused_by_user,
        step_done,
        rollout_confirmed,
        pre_rollout_passed,
        pre_rollout_failed,
        rollback_requested,
        waiting_for_confirmation,
        no_traffic_yet,
        paused_by_spec,
        gate_holds,
        gate_confirmed,
        forced,
        gated_plan,
    )
}
