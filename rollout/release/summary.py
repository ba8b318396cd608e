"""The one line users read about a release, and its step as people count it.

`describe(spec, status, now)` is the one-line message of a release (its
`status.message`, `rollout status`): a pure function of its state, as in Argo Rollouts.
It never starts with the phase: every view shows the phase beside it ("Phase:
message", once). `position(spec, status)` is its step as people count it (`2/6`,
`status.step`): from 1, as every step number a person reads.

Apart from `rollout.release.messages` (the events' messages, which need the decision in
progress) so that the status view loads neither the state machine nor the analysis:
`rollout status` starts in a few hundred milliseconds.

Pure; `now` is passed in. Called by the engine (through `messages`) and the status
view.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from rollout.api import durations
from rollout.api.release import PauseReason, Phase, ReleaseSpec, ReleaseStatus, Weights
from rollout.release import steps

__all__ = ["describe", "position"]


_PAUSED = {
    PauseReason.USER: "by a user: `rollout resume` to continue",
    PauseReason.PROMOTION: "waiting for `rollout promote`",
    PauseReason.INCONCLUSIVE: "analysis inconclusive; `rollout resume` to look again",
    PauseReason.ERRORS: "metric provider errors; `rollout resume` to look again",
    PauseReason.FAILURE: "analysis failed; `rollout retry`, `promote` or `abort`",
    PauseReason.CONFIRMATION: "waiting for a webhook's confirmation",
}
# The phases whose history entry says why the release is ending.
_ENDING = (Phase.ROLLING_BACK, Phase.FAILED, Phase.SUPERSEDED, Phase.ABORTED)
# What an ended release says when no history entry gives a cause.
_ENDED = {
    Phase.ROLLED_BACK: "rolled back",
    Phase.FAILED: "failed",
    Phase.ABORTED: "aborted",
}


def _cause(status: ReleaseStatus) -> str:
    """Why the release is ending: the latest entry that sent it to RollingBack or a
    terminal phase and says more than its event (the rows that only record arriving,
    such as `Aborted: stable 100% / canary 0%`, say nothing of why)."""
    for h in reversed(status.history):
        if h.phase in _ENDING and not _only_event(h.event, h.message):
            return h.message
    return ""


def _only_event(event: str, message: str) -> bool:
    """Whether `message` is the default one (`table.DEFAULT_MESSAGE`): the event, then
    perhaps the split (`_split`)."""
    return message == event or message.startswith(f"{event}: stable ")


def describe(
    spec: ReleaseSpec, status: ReleaseStatus, now: datetime, *, countdown: bool = True
) -> str:
    """The one-line message users see for a release (a pure function of its state);
    `countdown=False` leaves out the time left in the step."""
    weights: Weights | None = status.weights
    split = f"canary {weights.canary}%" if weights else "no traffic moved"
    phase = status.phase
    cause = _cause(status)
    if phase is Phase.PENDING:
        return f"waiting for {spec.canary_revision} to be ready"
    if phase is Phase.PROGRESSING:
        return _progressing(spec, status, now, split, countdown=countdown)
    if phase is Phase.PAUSED and status.pause_reason is PauseReason.CONFIRMATION:
        from rollout.release import hooks  # only here: it loads the observation and analysis

        wait = hooks.describe_wait(spec.policy, status) or "waiting for a webhook"
        return f"{wait} ({split})"
    if phase is Phase.PAUSED:
        reason = _PAUSED.get(status.pause_reason) if status.pause_reason else None
        return f"{reason} ({split})" if reason else split
    if phase is Phase.PROMOTING:
        return "moving 100% of traffic to the canary"
    if phase is Phase.ROLLING_BACK:
        return cause or f"moving traffic back to {spec.stable_revision}"
    if phase is Phase.SUCCEEDED:
        return f"{spec.canary_revision} promoted to 100%"
    if phase is Phase.SUPERSEDED:
        return f"superseded by a newer revision; traffic back to {spec.stable_revision}"
    # The phase is not repeated: whoever shows the message shows the phase beside it
    # (`demo-00002 RolledBack: errors-vs-stable: …`).
    if cause:
        return cause
    ended = _ENDED.get(phase, phase.value)
    return f"{ended}; traffic back to {spec.stable_revision}" if spec.stable_revision else ended


def _progressing(
    spec: ReleaseSpec, status: ReleaseStatus, now: datetime, split: str, *, countdown: bool
) -> str:
    """`step 3/8: analysis 1m, canary 10%, 40s left`."""
    expanded = spec.policy.expanded_steps()
    i = status.step_index
    if i >= len(expanded):
        return f"all steps done, {split}"
    text = f"step {i + 1}/{len(expanded)}: {expanded[i].describe()}, {split}"
    end = steps.ends_at(expanded[i], status.step_started_at or now)
    if countdown and end is not None and end > now:
        left = timedelta(seconds=round((end - now).total_seconds()))
        text += f", {durations.format_duration(left)} left"
    return text


def position(spec: ReleaseSpec, status: ReleaseStatus) -> str:
    """`2/6`: the current step counted from 1, out of the plan's steps (the last one once
    every step is done); '' for a plan without steps."""
    count = len(spec.policy.expanded_steps())
    return f"{min(status.step_index + 1, count)}/{count}" if count else ""
