"""Evidence with header routes and mirrors (issue 20): at weight 0, the canary's
requests are the matched and mirrored ones — and the evidence rules of
`test_evidence` still hold. The property drives `engine.decide` with an A/B plan
(header route and mirror at weight 0, analysis, the route removed, weights) and random
readings, the Route applying what the release asks, and checks that the engine never
leaves an analysis step, raises the weight or promotes on its own when the canary
served too few requests in the step (or its readings were mostly without data)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from test_evidence import (
    HUMAN,
    LATENCY,
    RATE,
    ROUNDS,
    T0,
    VS_STABLE,
    Account,
    Round,
    intent_after,
    reading,
)

from rollout.analysis import measurement
from rollout.api import policyspec
from rollout.api.release import Phase, ReleaseSpec, ReleaseStatus
from rollout.release import actions, engine, observation, rules, steps

BETA = [{"header": "X-Beta", "exact": "1"}]
PLAN: list[dict[str, Any]] = [
    {"setHeaderRoute": {"name": "beta", "match": BETA}},
    {"analysis": {"duration": "30s", "maxDuration": "1m"}},
    {"setMirror": {"name": "shadow", "percent": 20}},
    {"analysis": {"duration": "1m", "metrics": ["errors-vs-stable"]}},
    {"setHeaderRoute": {"name": "beta"}},
    {"setWeight": 30},
    {"analysis": {"duration": "30s"}},
]


def make_policy(*, early: bool, min_samples: int) -> policyspec.RolloutPolicySpec:
    return policyspec.RolloutPolicySpec.model_validate(
        {
            "steps": PLAN,
            "sessionAffinity": {},
            "analysis": {
                "interval": "10s",
                "failureLimit": 2,
                "inconclusiveLimit": 30,
                "consecutiveErrorLimit": 30,
                "advanceEarly": early,
                "metrics": [RATE, {**VS_STABLE, "minSamples": min_samples}, LATENCY],
            },
            "progressDeadline": "10m",
        }
    )


POLICIES = [make_policy(early=e, min_samples=m) for e in (False, True) for m in (0, 25)]
LEFT = {"StepAdvanced", "Promoting"}


def check_evidence(
    policy: policyspec.RolloutPolicySpec,
    before: ReleaseStatus,
    latest: dict[str, measurement.Measurement],
    account: Account,
    *,
    raised: bool,
) -> None:
    """Leaving an analysis step on its own: every gating metric had data and the canary
    served enough requests behind the local ones; raising traffic: no Error either."""
    if raised:
        blind = sorted(name for name, r in latest.items() if r.error is not None)
        assert not blind, f"raised traffic while the latest reading of {blind} is an Error"
    step = policy.expanded_steps()[before.step_index]
    metrics = {m.name: m for m in (policy.analysis.metrics if policy.analysis else [])}
    for name in steps.gating_metrics(policy, step):
        assert not account.mostly_without_data(name), f"{name}: mostly no data in the step"
        metric = metrics[name]
        if metric.provider.local is not None:
            floor = max(metric.min_samples, 1)
            served = account.served(name)
            assert served >= floor, f"{name}: the canary served {served} < {floor} in the step"


def drive(policy: policyspec.RolloutPolicySpec, rounds: list[Round]) -> int:
    """Run the rounds, the Route applying the rules and weights the release last asked
    for; check every analysis step the engine leaves by itself; how many it left."""
    status, intent = ReleaseStatus(), {}
    now = T0
    latest: dict[str, measurement.Measurement] = {}
    account = Account()
    left = 0
    for r in rounds:
        now += timedelta(seconds=r.dt)
        intent = intent_after(intent, r.command, status, now)
        spec = ReleaseSpec(
            service="web",
            stable_revision="web-00001",
            canary_revision="web-00002",
            policy=policy,
            **intent,
        )
        due = [m.name for m in engine.due_metrics(policy, status, now)]
        hanging = frozenset({"latency"} & set(due)) if r.hanging else frozenset()
        fed = tuple(reading(name, r, now) for name in due if name not in hanging)
        obs = observation.Observation(
            now=now,
            canary_ready=r.ready,
            applied=status.weights,
            applied_rules=rules.wanted(status),
            readings=fed,
            in_flight=hanging,
        )
        decision = engine.decide(spec, status, obs)
        after = decision.status
        verdicts = {m.metric: m.verdict for m in after.analysis}
        for one in fed:
            latest[one.metric] = one
            account.add(one, verdicts.get(one.metric))
        events = {a.reason for a in decision.actions if isinstance(a, actions.Event)}
        raised = any(
            isinstance(a, actions.SetWeights)
            and status.weights is not None
            and a.weights.canary > status.weights.canary
            for a in decision.actions
        )
        step = policy.expanded_steps()[min(status.step_index, len(policy.expanded_steps()) - 1)]
        on_its_own = not events & HUMAN and status.phase is Phase.PROGRESSING
        if on_its_own and events & LEFT and step.analysis is not None:
            assert r.ready or not raised, "raised traffic to a canary that is not serving"
            check_evidence(policy, status, latest, account, raised=raised)
            left += 1
        if (after.step_index, after.step_started_at) != (status.step_index, status.step_started_at):
            account = Account()  # a new step, or the same one restarted: new evidence
        status = after
    return left


@settings(max_examples=200, deadline=None)
@given(policy=st.sampled_from(POLICIES), rounds=st.lists(ROUNDS, min_size=20, max_size=60))
def test_an_ab_plan_never_moves_on_without_canary_requests(
    policy: policyspec.RolloutPolicySpec, rounds: list[Round]
) -> None:
    """Every analysis step the engine leaves by itself in an A/B plan had evidence: the
    header route's and mirror's requests at weight 0 count, and too few never pass."""
    drive(policy, rounds)


def test_the_property_sees_steps_left() -> None:
    """Not vacuous: with good readings the engine leaves the weight-0 analysis steps."""
    good = Round(10, None, "pass", "counts", "pass", 100, (30, 0), (300, 0))
    assert drive(POLICIES[0], [good] * 40) >= 2


def test_too_few_canary_requests_hold_the_ab_step() -> None:
    """At weight 0 the header route brought the canary no request: the step never ends."""
    quiet = Round(10, None, "quiet", "quiet", "pass", 0, (0, 0), (300, 0))
    assert drive(POLICIES[0], [quiet] * 40) == 0
