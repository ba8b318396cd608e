"""When a release is looked at again: which readings are due, and when to decide next.

`due_metrics(policy, status, now)` names the metrics whose next reading the caller
should take before deciding; `requeue_after(spec, status, obs)` says, from a status just
decided, when the next decision is due — the earliest of the next reading, the next
webhook call (`hooks.next_due`; after the end, only these), the end of a timed step,
the progress deadline, or a short poll while traffic moves. The caller
turns it into a requeue: nothing waits in a timer, and a past time is never returned
as a busy loop.

Pure; `now` is passed in. Called by `rollout.release.engine` (`requeue_after`) and,
through `engine.due_metrics`, by the release reconciler and the simulator.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from rollout.api import policyspec
from rollout.api.release import TERMINAL_PHASES, Phase, ReleaseSpec, ReleaseStatus
from rollout.release import hooks, notify, observation, rules, steps

__all__ = ["POLL", "due_metrics", "fresh_since", "requeue_after"]

POLL = timedelta(seconds=2)  # while waiting for readiness or for weights to be applied


def due_metrics(
    spec: policyspec.RolloutPolicySpec, status: ReleaseStatus, now: datetime
) -> list[policyspec.Metric]:
    """The metrics whose next reading is due (measured in Progressing and Paused, once
    traffic moved: not while a confirm-rollout webhook holds the first shift)."""
    if status.phase not in (Phase.PROGRESSING, Phase.PAUSED) or spec.analysis is None:
        return []
    if status.weights is None:
        return []
    last = {m.metric: m.at for m in status.analysis}
    return [
        m
        for m in spec.analysis.metrics
        if (at := last.get(m.name)) is None or now - at >= (m.interval or spec.analysis.interval)
    ]


def fresh_since(status: ReleaseStatus) -> datetime | None:
    """The earliest data a reading may count: the release's start, or its last
    `retry` (the history's last `Retried` entry) — a retried step is judged on what the
    canary serves after the retry, never on the readings that stopped it."""
    retried = next((e.at for e in reversed(status.history) if e.event == "Retried"), None)
    times = [t for t in (status.started_at, retried) if t is not None]
    return max(times) if times else None


def requeue_after(
    spec: ReleaseSpec, status: ReleaseStatus, obs: observation.Observation
) -> timedelta | None:
    """When the next decision is due, from the status just decided."""
    phase, now, policy = status.phase, obs.now, spec.policy
    # Webhook calls and notifications falling due (those in flight wake the caller when
    # they end); after the end only these: the outcome and the events still to deliver.
    hook_at = hooks.next_due(
        spec, status, now, canary_ready=obs.canary_ready, in_flight=obs.hooks_in_flight
    )
    notice_at = notify.next_due(obs.notifications, status, now, obs.notices_in_flight)
    due: list[datetime] = [t for t in (hook_at, notice_at) if t is not None]
    if phase in TERMINAL_PHASES:
        return max(min(due) - now, timedelta(0)) if due else None
    deadline = None
    if phase is Phase.PENDING and status.started_at is not None:
        deadline = steps.entered_phase_at(status, status.started_at) + policy.progress_deadline
        due.append(deadline)
    # Waiting for a canary whose every change wakes the caller: the deadline will do.
    woken = (
        deadline is not None
        and obs.readiness_wakes
        and not obs.canary_ready
        and obs.canary_failure is None
    )
    if (phase in (Phase.PENDING, Phase.PROMOTING, Phase.ROLLING_BACK) and not woken) or (
        status.weights is not None
        and (obs.applied != status.weights or not rules.applied(status, obs.applied_rules))
    ):
        due.append(now + POLL)
    if phase in (Phase.PROGRESSING, Phase.PAUSED) and policy.analysis and status.weights:
        last = {m.metric: m.at for m in status.analysis}
        for metric in policy.analysis.metrics:
            if metric.name in obs.in_flight:
                continue  # its reading is being taken: the caller is woken when it lands
            at = last.get(metric.name)
            due.append(now if at is None else at + (metric.interval or policy.analysis.interval))
    if phase is Phase.PROGRESSING:
        due.extend(_step_ends(policy, status, now))
    if not due:
        return None
    return max(min(due) - now, timedelta(0))


def _step_ends(
    policy: policyspec.RolloutPolicySpec, status: ReleaseStatus, now: datetime
) -> list[datetime]:
    """The ends of the current step still ahead (its duration, its maxDuration): once
    past, the step waits for its gate, whose readings are already due."""
    index = status.step_index
    expanded = policy.expanded_steps()
    if not (0 <= index < len(expanded) and status.step_started_at):
        return []
    step, started = expanded[index], status.step_started_at
    ends = [steps.ends_at(step, started)]
    if step.analysis is not None and step.analysis.max_duration is not None:
        ends.append(started + step.analysis.max_duration)
    return [end for end in ends if end is not None and end > now]
