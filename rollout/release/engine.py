"""`decide()`: one step of the release state machine, pure.

    decide(spec, status, observation) -> Decision(status, actions, requeue_after)

Per call: fold the observation's metric readings into the analysis statuses (pure,
`rollout.analysis.assess`), take a `transitions.Machine` (`auto_transitions=False`,
`ignore_invalid_triggers=True`, transitions from `table.ROWS`) and point it at a plain
model object that wraps a working copy of the status, fire the triggers the spec's
commands call for, then `tick` until nothing moves. Conditions read only the frozen
observation and the status; callbacks change the working status and record
`actions` — nothing else. The result says when the next decision is due
(`requeue_after`); nothing waits in a timer.

Machines are built once and reused (building one costs about a millisecond — more
than the rest of a decision): each is built over a `_Driver`, a stand-in model whose
conditions and callbacks forward to the decision in progress. A decision takes a
machine from a pool for itself alone (one per concurrent caller; `list.pop` and
`list.append` are atomic), sets its phase from the status, and gives it back with
nothing of the decision left on it — so `decide` stays a pure function of its inputs.

Commands are intents in the spec: `abort` and `paused` are levels; `promote`,
`resume` and `retry` are edges handled once per `requestedAt` (remembered in
`status.lastCommandAt`), and `promote` applies only from the step it names, so
repeating it never skips two steps. A command that does not apply is recorded in the
history with the reason.

No I/O, no wall clock. Called by the release reconciler and the simulator.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from transitions import Machine

from rollout.analysis import assess
from rollout.api import durations, policyspec
from rollout.api.release import (
    TERMINAL_PHASES,
    Command,
    HistoryEntry,
    Phase,
    ReleaseSpec,
    ReleaseStatus,
    StepEvidence,
    Weights,
)
from rollout.release import actions, observation, steps, table
from rollout.release.triggers import Trigger

__all__ = ["HISTORY_LIMIT", "POLL", "Decision", "decide", "due_metrics"]

# Triggers that do not apply are expected (commands are tried, the table decides);
# the library logs each at WARNING, which is noise here.
logging.getLogger("transitions.core").setLevel(logging.ERROR)

POLL = timedelta(seconds=2)  # while waiting for readiness or for weights to be applied
HISTORY_LIMIT = 200
# History entries that raise traffic carry the evidence of the step they leave.
_WITH_EVIDENCE = frozenset({"StepAdvanced", "Promoting", "PromotedStep", "PromotedFull"})


@dataclasses.dataclass(frozen=True)
class Decision:
    status: ReleaseStatus
    actions: tuple[actions.Action, ...]
    requeue_after: timedelta | None


def decide(spec: ReleaseSpec, status: ReleaseStatus, obs: observation.Observation) -> Decision:
    """The next status, the actions to apply, and when to decide again."""
    if status.phase in TERMINAL_PHASES:
        return Decision(status, (), None)
    with _machine() as driver:
        model = _Model(spec, status.model_copy(), obs, driver)  # callbacks replace fields
        model.run()
    new = model.status
    new.message = describe(spec, new, obs.now)
    requeue = _requeue(spec, new, obs)
    new.next_decision_at = obs.now + requeue if requeue is not None else None
    return Decision(new, tuple(model.actions), requeue)


def due_metrics(
    spec: policyspec.RolloutPolicySpec, status: ReleaseStatus, now: datetime
) -> list[policyspec.Metric]:
    """The metrics whose next reading is due (measured in Progressing and Paused)."""
    if status.phase not in (Phase.PROGRESSING, Phase.PAUSED) or spec.analysis is None:
        return []
    last = {m.metric: m.at for m in status.analysis}
    return [
        m
        for m in spec.analysis.metrics
        if (at := last.get(m.name)) is None or now - at >= (m.interval or spec.analysis.interval)
    ]


class _Driver:
    """The model a machine is built over: it holds the phase, and forwards every
    condition and callback to the decision in progress (`current`)."""

    state: str
    trigger: Callable[[str], bool]  # added by the machine
    machine: Machine

    def __init__(self) -> None:
        self.current: _Model | None = None

    def forward(self, name: str) -> Callable[[], Any]:
        """A condition or callback: the method `name` of the current decision."""

        def call() -> Any:
            return getattr(self.current, name)()

        return call

    def recorder(self, row: table.Row) -> Callable[[], None]:
        """The callback recording `row`'s event in the current decision."""

        def record() -> None:
            assert self.current is not None
            self.current.record(row)

        return record


_IDLE: list[_Driver] = []  # machines (by their drivers) no decision is using


def _build() -> _Driver:
    driver = _Driver()
    driver.machine = Machine(
        model=driver,
        states=[p.value for p in Phase],
        transitions=table.as_transitions(driver.forward, driver.recorder),
        initial=Phase.PENDING.value,
        auto_transitions=False,
        ignore_invalid_triggers=True,
    )
    return driver


@contextlib.contextmanager
def _machine() -> Iterator[_Driver]:
    """A machine's driver for this decision alone; back to the pool afterwards."""
    try:
        driver = _IDLE.pop()
    except IndexError:
        driver = _build()
    try:
        yield driver
    finally:
        driver.current = None
        _IDLE.append(driver)


class _Model:
    """The decision in progress: conditions, callbacks, a working status. While the
    machine runs, the driver holds the phase; `run` writes it into the status at the
    end."""

    def __init__(
        self,
        spec: ReleaseSpec,
        status: ReleaseStatus,
        obs: observation.Observation,
        driver: _Driver,
    ) -> None:
        self._driver = driver
        self.spec = spec
        self.policy = spec.policy
        self.steps = spec.policy.expanded_steps()
        self.status = status
        self.obs = obs
        self.now = obs.now
        self.actions: list[actions.Action] = []
        self.by: str | None = None
        self._left: list[StepEvidence] = []  # the evidence of the step just left
        # The gate depends only on the step and the analysis statuses (replaced, never
        # mutated), so it is computed once per (step, statuses) within a decision.
        self._gate_cache: tuple[tuple[int, int], assess.Gate] | None = None

    # --- the run ----------------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._driver.state

    def run(self) -> None:
        if self.status.started_at is None:
            self.status.started_at = self.now
        self._driver.current = self
        self._driver.machine.set_state(self.status.phase.value, model=self._driver)
        if self.status.phase in (Phase.PROGRESSING, Phase.PAUSED) and self.policy.analysis:
            self.status.analysis = assess.fold(
                self.policy.analysis, self.status.analysis, self.obs.readings
            )
        self._commands()
        for _ in range(len(self.steps) + 3):
            if not self._fire(Trigger.TICK):
                break
        self.status.phase = Phase(self.state)

    def _fire(self, trigger: Trigger, by: str | None = None) -> bool:
        self.by = by
        moved = bool(self._driver.trigger(trigger.value))
        self.by = None
        return moved

    def _commands(self) -> None:
        spec, status = self.spec, self.status
        if self.obs.superseded_by is not None:
            self._fire(Trigger.SUPERSEDE)
            return
        if spec.abort:
            self._fire(Trigger.ABORT)
        if self.analysis_failed() and not self.pause_on_failure():
            return  # the tick rolls back: no resume, retry or promote may hide a failure
        handled: list[datetime] = []
        promote = spec.promote
        if promote is not None and self._is_new(promote):
            handled.append(promote.requested_at)
            trigger = Trigger.PROMOTE_FULL if promote.full else Trigger.PROMOTE
            if not self._fire(trigger, promote.requested_by):
                self._note(
                    "PromoteIgnored", self._why_not_promoted(promote.from_step, promote.full)
                )
        if spec.paused and self.state == Phase.PROGRESSING.value:
            self._fire(Trigger.PAUSE)
        elif not spec.paused and status.pause_reason == "user" and self.state == Phase.PAUSED.value:
            self._fire(Trigger.RESUME)
        for command, trigger in ((spec.resume, Trigger.RESUME), (spec.retry, Trigger.RETRY)):
            if command is not None and self._is_new(command):
                handled.append(command.requested_at)
                if not self._fire(trigger, command.requested_by):
                    self._note(f"{trigger.value.title()}Ignored", self._why_not(trigger))
        if handled:
            status.last_command_at = max([*handled, *filter(None, [status.last_command_at])])

    def _is_new(self, command: Command) -> bool:
        last = self.status.last_command_at
        return last is None or command.requested_at > last

    def _why_not_promoted(self, from_step: int, full: bool) -> str:
        if self.state not in (Phase.PROGRESSING.value, Phase.PAUSED.value):
            return f"nothing to promote: the release is {self.state}"
        if full:
            return "the canary is not ready"
        return (
            f"promote from step {from_step} ignored: the release is at step"
            f" {self.status.step_index}"
        )

    def _why_not(self, trigger: Trigger) -> str:
        if self.state == Phase.PAUSED.value and self.at_pause_step():
            return f"{trigger.value} ignored: waiting at a pause step, use promote"
        return f"{trigger.value} ignored: the release is {self.state}, not paused"

    # --- plumbing for the table -------------------------------------------------------

    def record(self, row: table.Row) -> None:
        """Record `row`'s event (an action and a history entry): its last callback."""
        message = self._message_for(row)
        self.actions.append(actions.Event(row.event, message, row.warning))
        evidence = self._left if row.event in _WITH_EVIDENCE else []
        self._history(row.event, message, Phase(row.dest), evidence)

    def _history(
        self,
        event: str,
        message: str,
        phase: Phase | None,
        evidence: list[StepEvidence] | None = None,
    ) -> None:
        entry = HistoryEntry(
            at=self.now,
            event=event,
            message=message,
            phase=phase,
            step_index=self.status.step_index,
            weights=self.status.weights,
            by=self.by,
            evidence=evidence or [],
        )
        self.status.history = [*self.status.history, entry][-HISTORY_LIMIT:]

    def _note(self, event: str, message: str) -> None:
        self.actions.append(actions.Event(event, message, warning=True))
        self._history(event, message, None)

    def _message_for(self, row: table.Row) -> str:
        gate = self._gate()
        if row.name in ("analysis-failed", "analysis-failed-pause"):
            return "; ".join(gate.failed)
        if row.name == "analysis-errors":
            return "provider errors: " + "; ".join(gate.errors)
        if row.name == "analysis-inconclusive":
            return "inconclusive: " + "; ".join(gate.inconclusive)
        if row.name in ("canary-failed", "canary-failed-pending"):
            return f"canary {self.spec.canary_revision} failed: {self.obs.canary_failure}"
        if row.name == "readiness-deadline":
            deadline = durations.format_duration(self.policy.progress_deadline)
            return f"canary {self.spec.canary_revision} not ready within {deadline}"
        if row.name == "weights-stuck":
            return "traffic weights were not applied within the progress deadline"
        if row.name == "supersede":
            return f"superseded by {self.obs.superseded_by}"
        if row.name in ("abort", "abort-pending"):
            return "aborted by " + (self.by or "a user")
        if row.name == "unpause-at-pause-step":
            return "waiting for `rollout promote` at a pause step"
        if row.name in ("step-done", "promote-step", "start"):
            return f"step {self.status.step_index + 1}: {self._step_text()}"
        weights = self.status.weights
        split = f"stable {weights.stable}% / canary {weights.canary}%" if weights else ""
        return f"{row.event}: {split}".rstrip(": ")

    def _step_text(self) -> str:
        if self.status.step_index >= len(self.steps):
            return "done"
        return self.steps[self.status.step_index].describe()

    # --- conditions (read the observation and the status only) --------------------------

    def _gate(self) -> assess.Gate:
        key = (self.status.step_index, id(self.status.analysis))
        if self._gate_cache is None or self._gate_cache[0] != key:
            step = self._step()
            gating = steps.gating_metrics(self.policy, step) if step is not None else []
            gate = assess.gate(self.policy.analysis, self.status.analysis, gating)
            self._gate_cache = (key, gate)
        return self._gate_cache[1]

    def _step(self) -> policyspec.Step | None:
        i = self.status.step_index
        return self.steps[i] if 0 <= i < len(self.steps) else None

    def canary_ready(self) -> bool:
        return self.obs.canary_ready

    def canary_broken(self) -> bool:
        return self.obs.canary_failure is not None

    def deadline_passed(self) -> bool:
        started = self.status.started_at or self.now
        return self.now >= started + self.policy.progress_deadline

    def analysis_failed(self) -> bool:
        return bool(self._gate().failed)

    def error_limit(self) -> bool:
        return bool(self._gate().errors)

    def inconclusive_limit(self) -> bool:
        return bool(self._gate().inconclusive)

    def pause_on_failure(self) -> bool:
        return self.policy.rollback.on_failure is policyspec.OnFailure.PAUSE

    def weights_applied(self) -> bool:
        return self.obs.applied is not None and self.obs.applied == self.status.weights

    def weights_ahead(self) -> bool:
        """The router already has the next step's weights: the decision that set them
        was not persisted (a failed or lost status write). Deciding again redoes it."""
        index = self.status.step_index + 1
        if self.obs.applied is None or index >= len(self.steps):
            return False
        return self.obs.applied == steps.weights(steps.weight_at(self.steps, index))

    def weights_stuck(self) -> bool:
        started = self.status.step_started_at or self.now
        return not self.weights_applied() and self.now >= started + self.policy.progress_deadline

    def _raises_traffic(self) -> bool:
        """Whether ending this step gives the canary more traffic (the last step ends in
        promotion: 100%)."""
        index = self.status.step_index
        after = 100 if index >= len(self.steps) - 1 else steps.weight_at(self.steps, index + 1)
        return after > steps.weight_at(self.steps, index)

    def at_pause_step(self) -> bool:
        step = self._step()
        return step is not None and steps.is_indefinite_pause(step)

    def at_last_step(self) -> bool:
        return self.status.step_index >= len(self.steps) - 1

    def abort_requested(self) -> bool:
        return self.spec.abort

    def promote_matches_step(self) -> bool:
        promote = self.spec.promote
        return promote is not None and promote.from_step == self.status.step_index

    def step_done(self) -> bool:
        step = self._step()
        if step is None or not (self.weights_applied() or self.weights_ahead()):
            return step is None
        # A provider is failing, a reading due is still being taken (the latest one is
        # stale), or the canary is not serving (it crashed and is being restarted): no
        # evidence for more traffic, and none it could serve.
        blind = self._gate().blind or self.obs.in_flight or not self.obs.canary_ready
        if blind and self._raises_traffic() and not self.weights_ahead():
            return False
        if step.set_weight is not None:
            return True
        started = self.status.step_started_at or self.now
        end = steps.ends_at(step, started)
        if end is None:
            return False
        if step.analysis is None:
            return self.now >= end
        gate = self._gate()
        analysis = self.policy.analysis
        if analysis is not None and analysis.advance_early and gate.early:
            return True
        longest = step.analysis.max_duration
        if gate.suspect and longest is not None and self.now < started + longest:
            return False  # a regression is suspected: keep observing at this weight
        return gate.passed and self.now >= end

    # --- callbacks (change the working status, record actions) --------------------------

    def begin(self) -> None:
        self._enter_step(0)

    def advance_step(self) -> None:
        self._enter_step(self.status.step_index + 1)

    def restart_step(self) -> None:
        self._enter_step(self.status.step_index)

    def _step_evidence(self) -> list[StepEvidence]:
        """What the metrics of the step being left had shown: its gating metrics (all
        of the policy's when a human promotes from a step without analysis)."""
        step = self._step()
        names = steps.gating_metrics(self.policy, step) if step is not None else []
        if not names and self.by is not None:
            names = self.policy.metric_names()
        by_name = {m.metric: m for m in self.status.analysis}
        return [
            StepEvidence(
                metric=name,
                verdict=m.verdict,
                measurements=m.measurements,
                passes=m.passes,
                failures=m.failures,
                inconclusive=m.inconclusive,
                errors=m.errors,
                quiet=m.quiet,
                canary_requests=m.canary_requests,
            )
            for name in names
            if (m := by_name.get(name)) is not None
        ]

    def _enter_step(self, index: int) -> None:
        self._left = self._step_evidence()
        self.status.step_index = index
        self.status.step_started_at = self.now
        self.status.analysis = assess.reset_step(self.status.analysis)
        self._route(steps.weight_at(self.steps, index))

    def route_to_canary(self) -> None:
        self._left = self._step_evidence()
        self._route(100)

    def route_to_stable(self) -> None:
        self._route(0)

    def _route(self, canary: int) -> None:
        wanted = steps.weights(canary)
        if self.status.weights != wanted:
            self.status.weights = wanted
        self.actions.append(actions.SetWeights(wanted))

    def finish(self) -> None:
        self.status.finished_at = self.now
        self.status.pause_reason = None

    def unpaused_by_user(self) -> bool:
        return self.status.pause_reason == "user"

    def pause_for_user(self) -> None:
        self.status.pause_reason = "user"

    def pause_for_failure(self) -> None:
        self.status.pause_reason = "failure"

    def pause_for_errors(self) -> None:
        self.status.pause_reason = "errors"

    def pause_for_inconclusive(self) -> None:
        self.status.pause_reason = "inconclusive"

    def pause_for_promotion(self) -> None:
        self.status.pause_reason = "promotion"

    def clear_pause(self) -> None:
        self.status.pause_reason = None


def _requeue(
    spec: ReleaseSpec, status: ReleaseStatus, obs: observation.Observation
) -> timedelta | None:
    """When the next decision is due, from the status just decided."""
    phase, now, policy = status.phase, obs.now, spec.policy
    if phase in TERMINAL_PHASES:
        return None
    due: list[datetime] = []
    deadline = None
    if phase is Phase.PENDING and status.started_at is not None:
        deadline = status.started_at + policy.progress_deadline
        due.append(deadline)
    # Waiting for a canary whose every change wakes the caller: the deadline will do.
    woken = (
        deadline is not None
        and obs.readiness_wakes
        and not obs.canary_ready
        and obs.canary_failure is None
    )
    if (phase in (Phase.PENDING, Phase.PROMOTING, Phase.ROLLING_BACK) and not woken) or (
        status.weights is not None and obs.applied != status.weights
    ):
        due.append(now + POLL)
    if phase in (Phase.PROGRESSING, Phase.PAUSED) and policy.analysis:
        last = {m.metric: m.at for m in status.analysis}
        for metric in policy.analysis.metrics:
            if metric.name in obs.in_flight:
                continue  # its reading is being taken: the caller is woken when it lands
            at = last.get(metric.name)
            due.append(now if at is None else at + (metric.interval or policy.analysis.interval))
    if phase is Phase.PROGRESSING:
        index = status.step_index
        if 0 <= index < len(expanded := policy.expanded_steps()) and status.step_started_at:
            step, started = expanded[index], status.step_started_at
            ends = [steps.ends_at(step, started)]
            if step.analysis is not None and step.analysis.max_duration is not None:
                ends.append(started + step.analysis.max_duration)
            # Only ends still ahead: once past, the step waits for its gate, whose
            # readings are already due above (no busy loop on a past time).
            due.extend(end for end in ends if end is not None and end > now)
    if not due:
        return None
    return max(min(due) - now, timedelta(0))


def describe(
    spec: ReleaseSpec, status: ReleaseStatus, now: datetime, *, countdown: bool = True
) -> str:
    """The one-line message users see for a release (a pure function of its state);
    `countdown=False` leaves out the time left in the step."""
    expanded = spec.policy.expanded_steps()
    weights: Weights | None = status.weights
    split = f"canary {weights.canary}%" if weights else "no traffic moved"
    phase = status.phase
    # Why the release is ending: the entry that sent it to RollingBack or a terminal phase.
    cause = next(
        (
            h.message
            for h in reversed(status.history)
            if h.phase in (Phase.ROLLING_BACK, Phase.FAILED, Phase.SUPERSEDED, Phase.ABORTED)
        ),
        "",
    )
    if phase is Phase.PENDING:
        return f"waiting for {spec.canary_revision} to be ready"
    if phase is Phase.PROGRESSING:
        i = status.step_index
        if i >= len(expanded):
            return f"all steps done, {split}"
        text = f"step {i + 1}/{len(expanded)}: {expanded[i].describe()}, {split}"
        end = steps.ends_at(expanded[i], status.step_started_at or now)
        if countdown and end is not None and end > now:
            left = timedelta(seconds=round((end - now).total_seconds()))
            text += f", {durations.format_duration(left)} left"
        return text
    if phase is Phase.PAUSED:
        reason = {
            "user": "paused by a user: `rollout resume` to continue",
            "promotion": "waiting for `rollout promote`",
            "inconclusive": "paused: analysis inconclusive; `rollout resume` to look again",
            "errors": "paused: metric provider errors; `rollout resume` to look again",
            "failure": "paused after failed analysis; `rollout retry`, `promote` or `abort`",
        }.get(status.pause_reason or "", "paused")
        return f"{reason} ({split})"
    if phase is Phase.PROMOTING:
        return "promoting: moving 100% of traffic to the canary"
    if phase is Phase.ROLLING_BACK:
        return f"rolling back: {cause}"
    if phase is Phase.SUCCEEDED:
        return f"{spec.canary_revision} promoted to 100%"
    if phase is Phase.SUPERSEDED:
        return f"superseded by a newer revision; traffic back to {spec.stable_revision}"
    return f"{phase.value}: {cause}" if cause else phase.value
