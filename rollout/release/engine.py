"""`decide()`: one step of the release state machine, pure.

    decide(spec, status, observation) -> Decision(status, actions, requeue_after)

Per call: fold the observation's metric readings into the analysis statuses (pure,
`rollout.analysis.assess`), take a `transitions.Machine` (`auto_transitions=False`,
`ignore_invalid_triggers=True`, transitions from `table.ROWS`) and point it at the
decision in progress (`model.Model`, a working copy of the status), fire the triggers
the spec's commands call for, then `tick` until nothing moves. The status message and
when to decide again come from the status so decided. This module owns the driving:
which triggers fire in which order, and why a command did not apply.

Where the rest lives: which row may fire and what it does is `table` (the one owner
of which command applies when); its conditions are `conditions`, its callbacks
`effects`, its messages and the one-line status `messages`, when to look again
`schedule`, step arithmetic `steps`. `describe`, `due_metrics`, `fresh_since` and `POLL` are
re-exported here for the callers.

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
from rollout.api.release import (
    TERMINAL_PHASES,
    Command,
    PauseReason,
    Phase,
    ReleaseSpec,
    ReleaseStatus,
)
from rollout.release import (
    actions,
    conditions,
    effects,
    hooks,
    messages,
    model,
    notify,
    observation,
    schedule,
    table,
)
from rollout.release.triggers import Trigger

__all__ = [
    "HISTORY_LIMIT",
    "POLL",
    "Decision",
    "decide",
    "describe",
    "due_metrics",
    "fresh_since",
]

# Triggers that do not apply are expected (commands are tried, the table decides);
# the library logs each at WARNING, which is noise here.
logging.getLogger("transitions.core").setLevel(logging.ERROR)

POLL = schedule.POLL
HISTORY_LIMIT = model.HISTORY_LIMIT
describe = messages.describe
due_metrics = schedule.due_metrics
fresh_since = schedule.fresh_since

# Every name a row uses, resolved once: conditions first, then callbacks.
_NAMED: dict[str, Callable[[model.Model], Any]] = {**conditions.NAMED, **effects.NAMED}


@dataclasses.dataclass(frozen=True)
class Decision:
    status: ReleaseStatus
    actions: tuple[actions.Action, ...]
    requeue_after: timedelta | None


def decide(spec: ReleaseSpec, status: ReleaseStatus, obs: observation.Observation) -> Decision:
    """The next status, the actions to apply, and when to decide again."""
    status = status.model_copy()  # callbacks replace fields
    answered: list[actions.Action] = []
    if obs.hooks:
        status.webhooks, events = hooks.fold(spec.policy, status, obs.hooks, obs.now)
        answered.extend(events)
    if obs.notices:
        status.notifications, events = notify.fold(status.notifications, obs.notices, obs.now)
        answered.extend(events)
    if status.phase in TERMINAL_PHASES:  # a terminal release only delivers its webhooks
        return Decision(status, tuple(answered), schedule.requeue_after(spec, status, obs))
    if obs.notifications:
        status.notifications = notify.track(status.notifications, obs.notifications, status.history)
    m = model.Model(spec, status, obs)
    m.actions.extend(answered)
    with _machine() as driver:
        _Run(m, driver).run()
    new = m.status
    new.message = messages.describe(spec, new, obs.now)
    new.step = messages.position(spec, new)
    requeue = schedule.requeue_after(spec, new, obs)
    new.next_decision_at = obs.now + requeue if requeue is not None else None
    return Decision(new, tuple(m.actions), requeue)


# --- the machine pool -------------------------------------------------------------------


class _Driver:
    """The model a machine is built over: it holds the phase, and forwards every
    condition and callback to the decision in progress (`current`)."""

    state: str
    trigger: Callable[[str], bool]  # added by the machine
    machine: Machine

    def __init__(self) -> None:
        self.current: model.Model | None = None

    def forward(self, name: str) -> Callable[[], Any]:
        """A condition or callback: the function `name` over the current decision."""
        function = _NAMED[name]

        def call() -> Any:
            assert self.current is not None
            return function(self.current)

        return call

    def recorder(self, row: table.Row) -> Callable[[], None]:
        """The callback recording `row`'s event in the current decision."""

        def record() -> None:
            assert self.current is not None
            effects.record(self.current, row)

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


# --- one decision -----------------------------------------------------------------------


class _Run:
    """Drives one machine over one decision: the commands, then ticks until still.
    While the machine runs, the driver holds the phase; `run` writes it into the
    status at the end."""

    def __init__(self, m: model.Model, driver: _Driver) -> None:
        self.m = m
        self._driver = driver

    @property
    def phase(self) -> Phase:
        return Phase(self._driver.state)

    def run(self) -> None:
        m = self.m
        if m.status.started_at is None:
            m.status.started_at = m.now
        self._driver.current = m
        self._driver.machine.set_state(m.status.phase.value, model=self._driver)
        if m.status.phase in (Phase.PROGRESSING, Phase.PAUSED) and m.policy.analysis:
            m.status.analysis = assess.fold(m.policy.analysis, m.status.analysis, m.obs.readings)
        self._commands()
        for _ in range(len(m.steps) + 5):
            if not self._fire(Trigger.TICK):
                break
        m.status.phase = self.phase

    def _fire(self, trigger: Trigger, by: str | None = None) -> bool:
        self.m.by = by
        moved = bool(self._driver.trigger(trigger.value))
        self.m.by = None
        return moved

    def _commands(self) -> None:
        m = self.m
        spec, status = m.spec, m.status
        if m.obs.superseded_by is not None:
            self._fire(Trigger.SUPERSEDE)
            return
        if spec.abort:
            self._fire(Trigger.ABORT)
        if conditions.analysis_failed(m) and not conditions.pause_on_failure(m):
            return  # the tick rolls back: no resume, retry or promote may hide a failure
        handled: list[datetime] = []
        promote = spec.promote
        if promote is not None and self._is_new(promote):
            handled.append(promote.requested_at)
            trigger = Trigger.PROMOTE_FULL if promote.full else Trigger.PROMOTE
            if not self._fire(trigger, promote.requested_by):
                m.note("PromoteIgnored", self._why_not_promoted(trigger, promote.from_step))
        if spec.paused and table.can_fire(Trigger.PAUSE, self.phase):
            self._fire(Trigger.PAUSE)
        elif (
            not spec.paused
            and status.pause_reason == PauseReason.USER
            and table.can_fire(Trigger.RESUME, self.phase)
        ):
            self._fire(Trigger.RESUME)
        for command, trigger in ((spec.resume, Trigger.RESUME), (spec.retry, Trigger.RETRY)):
            if command is not None and self._is_new(command):
                handled.append(command.requested_at)
                if not self._fire(trigger, command.requested_by):
                    m.note(f"{trigger.value.title()}Ignored", self._why_not(trigger))
        if handled:
            status.last_command_at = max([*handled, *filter(None, [status.last_command_at])])

    def _is_new(self, command: Command) -> bool:
        last = self.m.status.last_command_at
        return last is None or command.requested_at > last

    def _why_not_promoted(self, trigger: Trigger, from_step: int | None) -> str:
        if not table.can_fire(trigger, self.phase):
            return f"nothing to promote: the release is {self.phase.value}"
        if conditions.gate_holds(self.m):
            wait = hooks.describe_wait(self.m.policy, self.m.status)
            return f"promote ignored: {wait}; `rollout promote --force` promotes over it"
        if trigger is Trigger.PROMOTE_FULL and conditions.gated_plan(self.m):
            return (
                "promote --full ignored: it would skip the policy's confirm webhooks;"
                " add --force to promote over them"
            )
        if trigger is Trigger.PROMOTE_FULL:
            return "the canary is not ready"
        at = self.m.status.step_index
        if from_step is not None and from_step < at:  # counted from 1, as people read them
            return f"promote from step {from_step + 1} ignored: already past it (at step {at + 1})"
        return f"promote from step {(from_step or 0) + 1} ignored: the release is at step {at + 1}"

    def _why_not(self, trigger: Trigger) -> str:
        phase = self.phase
        if phase is Phase.PAUSED and conditions.at_pause_step(self.m):
            return f"{trigger.value} ignored: waiting at a pause step, use promote"
        if phase is Phase.PAUSED and conditions.waiting_for_confirmation(self.m):
            wait = hooks.describe_wait(self.m.policy, self.m.status)
            return f"{trigger.value} ignored: {wait}; it goes on when the webhook says yes"
        return f"{trigger.value} ignored: the release is {phase.value}, not paused"
