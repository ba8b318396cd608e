"""The invariants of DESIGN §4, checked by hypothesis after every decision.

A release is driven from Pending through random sequences of rounds. In each round
time advances 0–120 s, the canary is ready or not, the router applies the weights the
release last asked for or lags behind, every metric `engine.due_metrics` names gets a
random reading (pass, fail, no data, NaN, too few samples, provider error), and a user
may issue a command (pause/unpause, promote from the current or a stale step, promote
full, resume, retry, abort) or a newer revision may supersede the release. After each
`engine.decide` the checks of `check_decision` must hold. A second test feeds only
readings without data and checks that the release never rolls back and never passes
an analysis step on its own.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rollout.analysis import assess, measurement
from rollout.api import policyspec
from rollout.api.release import (
    TERMINAL_PHASES,
    Command,
    HistoryEntry,
    Phase,
    PromoteRequest,
    ReleaseSpec,
    ReleaseStatus,
)
from rollout.release import actions, engine, observation, steps

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
RUNNING = (Phase.PROGRESSING, Phase.PAUSED)
ROLLBACK_PHASES = (Phase.ROLLING_BACK, Phase.ROLLED_BACK)
HUMAN_PROMOTIONS = ("PromotedStep", "PromotedFull")
WHO = "alice"

STEPS: list[dict[str, Any]] = [
    {"setWeight": 10},
    {"analysis": {"duration": "1m", "maxDuration": "3m"}},
    {"setWeight": 30},
    {"pause": {}},
    {"setWeight": 50},
    {"analysis": {"duration": "2m", "metrics": ["error-rate"]}},
    {"pause": {"duration": "30s"}},
    {"setWeight": 80},
    {"analysis": {"duration": "1m"}},
]
METRICS: list[dict[str, Any]] = [
    {
        "name": "error-rate",
        "provider": {"local": {"stat": "error_rate"}},
        "thresholds": {"max": 0.02},
        "minSamples": 20,
    },
    {
        "name": "errors-vs-stable",
        "provider": {"local": {"stat": "errors"}},
        "compare": {"against": "stable", "method": "sequential", "alpha": 0.05, "maxRatio": 2},
    },
]


def make_policy(*, advance_early: bool, on_failure: str) -> policyspec.RolloutPolicySpec:
    return policyspec.RolloutPolicySpec.model_validate(
        {
            "steps": STEPS,
            "analysis": {
                "interval": "15s",
                "failureLimit": 1,
                "inconclusiveLimit": 3,
                "consecutiveErrorLimit": 2,
                "advanceEarly": advance_early,
                "metrics": METRICS,
            },
            "progressDeadline": "5m",
            "rollback": {"onFailure": on_failure},
        }
    )


POLICIES = [
    make_policy(advance_early=early, on_failure=on_failure)
    for early in (False, True)
    for on_failure in ("rollback", "pause")
]

# --- one round of the world --------------------------------------------------------------

COMMANDS = [
    *[None] * 16,
    *["promote"] * 3,
    "promote-stale",
    "pause",
    "unpause",
    "resume",
    "retry",
    "promote-full",
    "abort",
    "supersede",
]
RATE_KINDS = [*["pass"] * 6, "fail", "fail", "few", "no-data", "nan", "error"]
SPLIT_KINDS = [*["counts"] * 6, "no-counts", "no-canary-requests", "error"]


@dataclasses.dataclass(frozen=True)
class Round:
    dt: int  # seconds since the previous round
    ready: bool
    router_applies: bool
    command: str | None
    rate_kind: str
    rate: float  # 0..1, scaled into the passing or the failing range of error-rate
    samples: int
    split_kind: str
    canary: tuple[int, int]  # requests, errors
    stable: tuple[int, int]


def counts(requests: int, errors: int) -> st.SearchStrategy[tuple[int, int]]:
    """(requests, errors) with errors ≤ requests."""
    return st.tuples(st.integers(0, requests), st.integers(0, errors)).map(
        lambda c: (c[0], min(c[0], c[1]))
    )


ROUNDS = st.builds(
    Round,
    dt=st.integers(0, 120),
    ready=st.sampled_from([True, True, True, False]),
    router_applies=st.sampled_from([True, True, True, False]),
    command=st.sampled_from(COMMANDS),
    rate_kind=st.sampled_from(RATE_KINDS),
    rate=st.floats(0, 1),
    samples=st.integers(20, 200),
    split_kind=st.sampled_from(SPLIT_KINDS),
    canary=counts(400, 6),
    stable=counts(4000, 40),
)
# Rounds whose readings never carry data: Inconclusive, whatever the numbers.
NO_DATA_ROUNDS = st.builds(
    Round,
    dt=st.integers(0, 120),
    ready=st.just(True),
    router_applies=st.just(True),
    command=st.sampled_from([c for c in COMMANDS if c not in ("abort", "supersede")]),
    rate_kind=st.sampled_from(["no-data", "nan", "few"]),
    rate=st.floats(0, 1),
    samples=st.integers(0, 200),
    split_kind=st.sampled_from(["no-counts", "no-canary-requests"]),
    canary=counts(400, 6),
    stable=counts(4000, 40),
)


def reading(metric: str, r: Round, now: datetime) -> measurement.Measurement:
    """The round's reading of `metric`."""
    kind = r.rate_kind if metric == "error-rate" else r.split_kind
    if kind == "error":
        return measurement.Measurement(metric, now, until=now, error="connection refused")
    if kind == "no-data":
        return measurement.Measurement(metric, now, until=now)
    if kind == "nan":
        return measurement.Measurement(metric, now, until=now, value=math.nan, samples=r.samples)
    if kind in ("pass", "fail"):
        value = 0.019 * r.rate if kind == "pass" else 0.021 + 0.05 * r.rate
        return measurement.Measurement(metric, now, until=now, value=value, samples=r.samples)
    if kind == "few":  # below minSamples 20, however bad the value
        samples = r.samples % 20
        return measurement.Measurement(metric, now, until=now, value=r.rate, samples=samples)
    if kind == "no-counts":
        return measurement.Measurement(metric, now, until=now)
    canary = (0, 0) if kind == "no-canary-requests" else r.canary
    return measurement.Measurement(
        metric,
        now,
        until=now,
        canary=measurement.Counts(*canary),
        stable=measurement.Counts(*r.stable),
    )


def with_command(
    intent: dict[str, Any], command: str | None, status: ReleaseStatus, now: datetime
) -> dict[str, Any]:
    """The user's intent after `command`; edge commands carry a fresh requestedAt."""
    intent = dict(intent)
    i = status.step_index
    if command == "pause":
        intent["paused"] = True
    elif command == "unpause":
        intent["paused"] = False
    elif command == "abort":
        intent["abort"] = True
    elif command in ("promote", "promote-stale", "promote-full"):
        from_step = i if command != "promote-stale" else (i - 1 if i > 0 else i + 1)
        intent["promote"] = PromoteRequest(
            requested_at=now,
            requested_by=WHO,
            from_step=from_step,
            full=command == "promote-full",
        )
    elif command in ("resume", "retry"):
        intent[command] = Command(requested_at=now, requested_by=WHO)
    return intent


# --- the checks --------------------------------------------------------------------------


def check_weights(decision: engine.Decision) -> None:
    """Weights sum to 100 and name only the stable and the canary revision."""
    found = [a.weights for a in decision.actions if isinstance(a, actions.SetWeights)]
    if decision.status.weights is not None:
        found.append(decision.status.weights)
    for weights in found:
        assert set(weights.model_dump()) == {"stable", "canary"}
        assert 0 <= weights.canary <= 100
        assert weights.stable + weights.canary == 100


def gate_passed(
    policy: policyspec.RolloutPolicySpec, before: ReleaseStatus, obs: observation.Observation
) -> bool:
    """Whether the analysis step `before` is at may end (DESIGN §5, `AnalysisStep`).

    Its gate passed, and either advanceEarly with an early gate, or its duration is over
    and no regression is suspected — or maxDuration is over too.
    """
    step = policy.expanded_steps()[before.step_index]
    assert step.analysis is not None
    assert policy.analysis is not None
    statuses = assess.fold(policy.analysis, before.analysis, obs.readings)
    gate = assess.gate(policy.analysis, statuses, steps.gating_metrics(policy, step))
    started = before.step_started_at or obs.now
    longest = step.analysis.max_duration
    held = gate.suspect and longest is not None and obs.now < started + longest
    due = obs.now >= started + step.analysis.duration and not held
    return gate.passed and (due or (policy.analysis.advance_early and gate.early))


def check_decision(
    spec: ReleaseSpec,
    before: ReleaseStatus,
    obs: observation.Observation,
    decision: engine.Decision,
) -> None:
    """The invariants of DESIGN §4 for one decision."""
    after, plan = decision.status, spec.policy.expanded_steps()
    check_weights(decision)
    assert len(after.history) <= engine.HISTORY_LIMIT

    if before.phase in TERMINAL_PHASES:
        assert after == before
        assert decision.actions == ()
        return
    if after.phase in TERMINAL_PHASES:
        assert after.finished_at == obs.now
        assert decision.requeue_after is None

    if after.phase is Phase.PROGRESSING:
        assert after.weights is not None
        assert after.weights.canary <= steps.weight_at(plan, after.step_index)
    if before.phase in RUNNING and after.phase in RUNNING:
        assert before.weights is not None
        assert after.weights is not None
        assert after.weights.canary >= before.weights.canary, "canary weight decreased"

    promoted = {a.reason for a in decision.actions if isinstance(a, actions.Event)} & set(
        HUMAN_PROMOTIONS
    )
    for reason in promoted:
        assert any(h.event == reason and h.by == WHO and h.at == obs.now for h in after.history)
    if before.phase not in RUNNING:
        return
    finished = after.phase in (Phase.PROMOTING, Phase.SUCCEEDED)
    end = len(plan) if finished else after.step_index
    for k in range(before.step_index, end):
        if plan[k].analysis is None or "PromotedFull" in promoted:
            continue
        assert k == before.step_index, f"analysis step {k} passed in the decision that entered it"
        assert "PromotedStep" in promoted or gate_passed(spec.policy, before, obs), (
            f"left analysis step {k} without a passed gate or a human promotion"
        )


def drive(
    policy: policyspec.RolloutPolicySpec, rounds: list[Round], prefill: bool
) -> list[ReleaseStatus]:
    """Run the rounds through `engine.decide`, checking every decision; the statuses."""
    history = [HistoryEntry(at=T0, event="Filler")] * (engine.HISTORY_LIMIT - 3) if prefill else []
    status = ReleaseStatus(history=history)
    intent: dict[str, Any] = {}
    now, applied = T0, None
    seen = [status]
    for r in rounds:
        now += timedelta(seconds=r.dt)
        if r.router_applies:
            applied = status.weights
        intent = with_command(intent, r.command, status, now)
        spec = ReleaseSpec(
            service="web",
            stable_revision="web-00001",
            canary_revision="web-00002",
            policy=policy,
            **intent,
        )
        due = engine.due_metrics(policy, status, now)
        obs = observation.Observation(
            now=now,
            canary_ready=r.ready,
            applied=applied,
            readings=tuple(reading(m.name, r, now) for m in due),
            superseded_by="web-00003" if r.command == "supersede" else None,
        )
        decision = engine.decide(spec, status, obs)
        check_decision(spec, status, obs, decision)
        status = decision.status
        seen.append(status)
    return seen


@settings(max_examples=200, deadline=None)
@given(
    policy=st.sampled_from(POLICIES),
    rounds=st.lists(ROUNDS, min_size=15, max_size=40),
    prefill=st.booleans(),
)
def test_invariants_hold_after_every_decision(
    policy: policyspec.RolloutPolicySpec, rounds: list[Round], prefill: bool
) -> None:
    """Weights, step limits, gates, terminal phases and history hold in every round."""
    drive(policy, rounds, prefill)


@settings(max_examples=100, deadline=None)
@given(policy=st.sampled_from(POLICIES), rounds=st.lists(NO_DATA_ROUNDS, min_size=10, max_size=30))
def test_inconclusive_readings_never_roll_back(
    policy: policyspec.RolloutPolicySpec, rounds: list[Round]
) -> None:
    """Readings without data never roll back and never pass an analysis step alone."""
    seen = drive(policy, rounds, prefill=False)

    for status in seen:
        assert status.phase not in ROLLBACK_PHASES
        assert all(m.failures == 0 and m.passes == 0 for m in status.analysis)
