"""What users read about a release: the message of each event, and the one-line status.

`event_message(model, row)` formats the row's template (`Row.message`, a `str.format`
template) with the fields of `FIELDS`, computed from the decision in progress only
when a template names them. `describe(spec, status, now)` is the one-line message of a
release (its `status.message`, `rollout status`): a pure function of its state, as in
Argo Rollouts. It never starts with the phase: every view shows the phase beside it
("Phase: message", once). `position(spec, status)` is its step as people count it
(`2/6`, `status.step`).

Step numbers: every step number a person reads counts from 1 (messages, events,
`status.step`, `rollout status`, `history`, `get releases`); `status.stepIndex` and a
promote's `fromStep` are API indexes and count from 0.

Pure; `now` is passed in. Called by `rollout.release.effects` (events) and
`rollout.release.engine` (the status message); `describe` also by the status view.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta

from rollout.api import durations
from rollout.api.release import PauseReason, Phase, ReleaseSpec, ReleaseStatus, Weights
from rollout.release import hooks, rules, steps, table
from rollout.release.model import Model

__all__ = ["FIELDS", "describe", "event_message", "position"]


def _split(m: Model) -> str:
    weights = m.status.weights
    return f": stable {weights.stable}% / canary {weights.canary}%" if weights else ""


def _rules_held(m: Model) -> str:
    """What the Route holds of the step's request rules when it differs from what the
    step asked: "; the route reads back other request rules: mirror shadow is not
    applied" (asked is the step's, whatever the row's callbacks asked since)."""
    asked = rules.for_step(m.spec, m.steps, m.status.step_index, attempt=m.obs.attempt)
    differs = asked.difference(m.obs.applied_rules)
    return f"; the route reads back other request rules: {differs}" if differs else ""


# The fields a row's message template may name, each from the decision in progress.
FIELDS: dict[str, Callable[[Model, table.Row], object]] = {
    "event": lambda m, row: row.event,
    # ": stable 95% / canary 5%", with its colon; nothing before any traffic moved
    "split": lambda m, row: _split(m),
    "step": lambda m, row: m.status.step_index + 1,  # counted from 1, as users read it
    "step_text": lambda m, row: m.step_text(),  # "analysis 1m", "done" after the last
    "failed": lambda m, row: "; ".join(
        [*m.gate().failed, *hooks.checks_failed(m.policy, m.status)]
    ),
    "errors": lambda m, row: "; ".join(m.gate().errors),
    "inconclusive": lambda m, row: "; ".join(m.gate().inconclusive),
    "canary": lambda m, row: m.spec.canary_revision,
    "failure": lambda m, row: m.obs.canary_failure,
    "deadline": lambda m, row: durations.format_duration(m.policy.progress_deadline),
    "superseded_by": lambda m, row: m.obs.superseded_by,
    "route_problem": lambda m, row: m.obs.route_problem,
    # "; the route reads back other request rules: mirror shadow is not applied", or ""
    "rules_held": lambda m, row: _rules_held(m),
    "by": lambda m, row: m.by or "a user",
    # "waiting for confirm-promotion (last: HTTP 403 from https://gate.example/…)"
    "gate": lambda m, row: hooks.describe_wait(m.policy, m.status),
    "confirmed": lambda m, row: hooks.gate_at(m.policy, m.status).value,
    "pre_rollout_failed": lambda m, row: "; ".join(hooks.pre_rollout_failed(m.policy, m.status)),
    "rollback_hook": lambda m, row: hooks.rollback_requested(m.policy, m.status),
}


class _Fields(Mapping[str, object]):
    """The fields of `FIELDS` for one event, each computed when the template asks."""

    def __init__(self, m: Model, row: table.Row) -> None:
        self._m, self._row = m, row

    def __getitem__(self, name: str) -> object:
        return FIELDS[name](self._m, self._row)

    def __iter__(self) -> Iterator[str]:
        return iter(FIELDS)

    def __len__(self) -> int:
        return len(FIELDS)


def event_message(m: Model, row: table.Row) -> str:
    """The message of `row`'s event: its template, filled in."""
    # The gate first, whatever the template: the gate cache then holds what it always
    # held at this point, so the conditions tried after this event see the same.
    m.gate()
    return row.message.format_map(_Fields(m, row))


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
