"""Our release engine as a simulator `Runner`: the same `decide()` the controller uses.

Each decision gathers readings for the metrics that are due (`engine.due_metrics`)
from the simulated world, exactly as the release reconciler will gather them from a
provider — with the world's scrape delay — builds an `Observation`, calls
`engine.decide`, and applies the `SetWeights` actions and the request rules the status
asks for at once (a router with no latency; the engine is asked again at the same
instant so that what was applied is observed, as a watch event would trigger a
reconcile). The canary's share of the world's requests is its weight plus what its
header routes and mirrors send it (`requests.canary_share`).

Readings come from `readings.read`, shared with the rehearsal platform.

No I/O. Called by `rollout simulate` and the decision-quality benchmark.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rollout.api import policyspec, route
from rollout.api.release import PauseReason, Phase, ReleaseSpec, ReleaseStatus, Weights
from rollout.release import actions, engine, observation, rules
from rollout.sim import harness, readings, requests, world

__all__ = ["EPOCH", "PolicyRunner", "check"]

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_AT_ONCE = 8  # decisions at one instant while weights are being applied


def check(policy: policyspec.RolloutPolicySpec) -> list[str]:
    """Why a policy cannot be simulated (metrics with non-local providers); empty if it can."""
    metrics = policy.analysis.metrics if policy.analysis else []
    return [
        f"metric {m.name!r} uses the {m.provider.kind} provider; the simulator reads only"
        " `local` stats"
        for m in metrics
        if m.provider.local is None
    ]


def _at(seconds: float) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


class PolicyRunner:
    """Drives `engine.decide` for one release of a simulated canary."""

    def __init__(self, policy: policyspec.RolloutPolicySpec) -> None:
        # The simulator calls no webhook: their gates are taken as passed, their checks
        # as never failing (`rollout simulate` says so). Judged here: the metrics alone.
        policy = policy.model_copy(update={"webhooks": []})
        self.spec = ReleaseSpec(
            service="sim",
            stable_revision="sim-00001",
            canary_revision="sim-00002",
            policy=policy,
        )
        self.status = ReleaseStatus()
        self.applied = Weights(stable=100, canary=0)
        self.applied_rules = route.Rules()
        self._next = 0.0

    def start(self, w: world.World) -> None:
        self._next = w.now

    def next_decision_at(self) -> float:
        return self._next

    @property
    def weight(self) -> float:
        return requests.canary_share(
            self.applied.canary, self.applied_rules.header_routes, self.applied_rules.mirrors
        )

    @property
    def outcome(self) -> harness.Outcome | None:
        phase = self.status.phase
        if phase is Phase.SUCCEEDED:
            return harness.Outcome.PROMOTED
        if phase in (Phase.ROLLED_BACK, Phase.ABORTED, Phase.FAILED):
            return harness.Outcome.ROLLED_BACK
        if phase is Phase.PAUSED and self.status.pause_reason != PauseReason.USER:
            return harness.Outcome.PAUSED  # waits for a human: the simulation stops here
        return None

    def decide(self, w: world.World) -> None:
        now = _at(w.now)
        due = tuple(
            readings.read(m, w, origin=EPOCH, **self._cursor(m.name))
            for m in engine.due_metrics(self.spec.policy, self.status, now)
        )
        requeue: timedelta | None = None
        for _ in range(_AT_ONCE):
            obs = observation.Observation(
                now=now,
                canary_ready=True,
                applied=self.applied,
                applied_rules=self.applied_rules,
                readings=due,
            )
            decision = engine.decide(self.spec, self.status, obs)
            self.status = decision.status
            due = ()
            moved = [a.weights for a in decision.actions if isinstance(a, actions.SetWeights)]
            requeue = decision.requeue_after
            asked = rules.wanted(self.status)
            if (not moved or moved[-1] == self.applied) and asked == self.applied_rules:
                break
            self.applied = moved[-1] if moved else self.applied
            self.applied_rules = asked
        step = requeue.total_seconds() if requeue is not None else 3600.0
        self._next = w.now + max(step, 0.5)

    def _cursor(self, name: str) -> dict[str, Any]:
        """Where the metric's increments start, and its bound of slow requests."""
        found = next((m for m in self.status.analysis if m.metric == name), None)
        if found is None:
            return {"measured_until": None, "slower_than": None}
        return {"measured_until": found.measured_until, "slower_than": found.slower_than_seconds}
