"""The decision in progress: what the table's conditions and callbacks read and change.

A `Model` holds one decision's inputs — the spec, a working copy of the status (the
callbacks replace its fields) and the frozen observation — and what the decision has
produced so far: the actions and the history entries. It also holds what conditions,
callbacks and messages share: the current step, the step's gate (computed once per
step and analysis statuses), routing and the history.

`rollout.release.conditions` reads a model, `rollout.release.effects` changes it,
`rollout.release.messages` formats its events; `rollout.release.engine` builds one per
decision and drives the machine over it. No I/O and no clock: `now` is the
observation's.
"""

from __future__ import annotations

from rollout.analysis import assess
from rollout.api import policyspec
from rollout.api.release import HistoryEntry, Phase, ReleaseSpec, ReleaseStatus, StepEvidence
from rollout.api.route import Rules
from rollout.release import actions, observation, steps

__all__ = ["HISTORY_LIMIT", "Model"]

HISTORY_LIMIT = 200


class Model:
    """One decision's inputs, working status and outputs."""

    def __init__(
        self, spec: ReleaseSpec, status: ReleaseStatus, obs: observation.Observation
    ) -> None:
        self.spec = spec
        self.policy = spec.policy
        self.steps = spec.policy.expanded_steps()
        self.status = status
        self.obs = obs
        self.now = obs.now
        self.actions: list[actions.Action] = []
        self.by: str | None = None  # who fired the command being handled, if anyone
        self.left: list[StepEvidence] = []  # the evidence of the step just left
        # The gate depends only on the step and the analysis statuses (replaced, never
        # mutated), so it is computed once per (step, statuses) within a decision.
        self._gate_cache: tuple[tuple[int, int], assess.Gate] | None = None

    def gate(self) -> assess.Gate:
        """The gate of the current step over the current analysis statuses."""
        key = (self.status.step_index, id(self.status.analysis))
        if self._gate_cache is None or self._gate_cache[0] != key:
            step = self.step()
            gating = steps.gating_metrics(self.policy, step) if step is not None else []
            gate = assess.gate(self.policy.analysis, self.status.analysis, gating)
            self._gate_cache = (key, gate)
        return self._gate_cache[1]

    def step(self) -> policyspec.Step | None:
        """The current step; None once all steps are done."""
        i = self.status.step_index
        return self.steps[i] if 0 <= i < len(self.steps) else None

    def step_text(self) -> str:
        if self.status.step_index >= len(self.steps):
            return "done"
        return self.steps[self.status.step_index].describe()

    def route(self, canary: int) -> None:
        """Ask for `canary`% on the canary (absolute weights), and remember it."""
        wanted = steps.weights(canary)
        if self.status.weights != wanted:
            self.status.weights = wanted
        self.actions.append(actions.SetWeights(wanted))

    def ask_rules(self, rules: Rules) -> None:
        """Ask the Route to carry these request rules (beside the weights)."""
        self.status.header_routes = list(rules.header_routes)
        self.status.mirrors = list(rules.mirrors)
        self.status.session_affinity = rules.session_affinity

    def history(
        self,
        event: str,
        message: str,
        phase: Phase | None,
        evidence: list[StepEvidence] | None = None,
    ) -> None:
        """Append a history entry (the oldest beyond `HISTORY_LIMIT` are dropped)."""
        last = self.status.history[-1].seq if self.status.history else 0
        entry = HistoryEntry(
            at=self.now,
            event=event,
            message=message,
            seq=last + 1,
            phase=phase,
            step_index=self.status.step_index,
            weights=self.status.weights,
            by=self.by,
            evidence=evidence or [],
        )
        self.status.history = [*self.status.history, entry][-HISTORY_LIMIT:]

    def note(self, event: str, message: str) -> None:
        """Record something that happened without a transition (a command ignored)."""
        self.actions.append(actions.Event(event, message, warning=True))
        self.history(event, message, None)
