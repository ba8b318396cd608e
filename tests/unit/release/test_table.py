"""The transitions table, row by row, and the conditions that must keep a row from firing.

Each row of `table.ROWS` has one scenario named after it: a release spec (one inline
policy), a status in the row's source phase and an observation. `engine.decide` must
end in the row's destination phase, record the row's event (as an action and in the
history), ask for the absolute weights the row routes to (and none when it routes no
traffic) and leave the status fields as DESIGN §4 says. The tests after the table
cover the negative side: stale or repeated commands, terminal releases, pause steps,
analysis steps that are not over yet, and readings that must never roll back.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rollout.analysis import measurement
from rollout.api import policyspec
from rollout.api.release import (
    Command,
    HistoryEntry,
    MetricStatus,
    Phase,
    PromoteRequest,
    ReleaseSpec,
    ReleaseStatus,
    Verdict,
    WebhookStatus,
)
from rollout.release import actions, engine, observation, steps, table

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)

# Steps of the policy used throughout, by index:
#   0 setWeight 10 · 1 analysis 1m (all metrics) · 2 setWeight 50 · 3 pause {}
#   4 pause 30s · 5 analysis 1m (error-rate only), the last step.
STEPS: list[dict[str, Any]] = [
    {"setWeight": 10},
    {"analysis": {"duration": "1m"}},
    {"setWeight": 50},
    {"pause": {}},
    {"pause": {"duration": "30s"}},
    {"analysis": {"duration": "1m", "metrics": ["error-rate"]}},
]
LAST = len(STEPS) - 1
METRICS: list[dict[str, Any]] = [
    {
        "name": "error-rate",
        "provider": {"local": {"stat": "error_rate"}},
        "thresholds": {"max": 0.01},
        "minSamples": 10,
    },
    {
        "name": "errors-vs-stable",
        "provider": {"local": {"stat": "errors"}},
        "compare": {"against": "stable", "method": "sequential", "alpha": 0.01, "maxRatio": 2},
    },
]


def make_policy(
    *, plan: list[dict[str, Any]] = STEPS, on_failure: str = "rollback", **analysis: Any
) -> policyspec.RolloutPolicySpec:
    """The inline policy, with its steps or analysis settings overridden."""
    limits = {"interval": "15s", "failureLimit": 1, "inconclusiveLimit": 2}
    return policyspec.RolloutPolicySpec.model_validate(
        {
            "steps": plan,
            "analysis": {**limits, "consecutiveErrorLimit": 2, **analysis, "metrics": METRICS},
            "progressDeadline": "10m",
            "rollback": {"onFailure": on_failure},
        }
    )


POLICY = make_policy()
PAUSE_ON_FAILURE = make_policy(on_failure="pause")
EARLY = make_policy(advanceEarly=True)
# Step 1 keeps observing up to 3m while the comparison suspects a regression.
PATIENT = make_policy(
    plan=[STEPS[0], {"analysis": {"duration": "1m", "maxDuration": "3m"}}, *STEPS[2:]]
)


def hooked(
    *types: str, plan: list[dict[str, Any]] = STEPS, on_failure: str = "rollback"
) -> policyspec.RolloutPolicySpec:
    """The inline policy with one webhook of each of `types`, named after its type."""
    data = make_policy(plan=plan, on_failure=on_failure).model_dump(by_alias=True, mode="json")
    data["webhooks"] = [{"name": t, "type": t, "url": f"http://127.0.0.1:9/{t}"} for t in types]
    return policyspec.RolloutPolicySpec.model_validate(data)


def answer(name: str, basis: str, status: int = 200) -> observation.HookAnswer:
    ok = 200 <= status < 300
    return observation.HookAnswer(
        name, basis, ok=ok, status=status, error=None if ok else f"HTTP {status}: no"
    )


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def release(policy: policyspec.RolloutPolicySpec = POLICY, **intent: Any) -> ReleaseSpec:
    return ReleaseSpec(
        service="web",
        stable_revision="web-00001",
        canary_revision="web-00002",
        policy=policy,
        **intent,
    )


def promote(from_step: int, seconds: float, *, full: bool = False) -> PromoteRequest:
    return PromoteRequest(
        requested_at=at(seconds), requested_by="alice", from_step=from_step, full=full
    )


def command(seconds: float) -> Command:
    return Command(requested_at=at(seconds), requested_by="bob")


def status(phase: Phase, step: int = 0, canary: int | None = None, **fields: Any) -> ReleaseStatus:
    """A status in `phase` at step `step` with `canary`% of traffic, started at T0."""
    fields.setdefault("started_at", T0)
    if phase is not Phase.PENDING:
        fields.setdefault("step_started_at", T0)
    weights = steps.weights(canary) if canary is not None else None
    return ReleaseStatus(phase=phase, step_index=step, weights=weights, **fields)


def observe(
    seconds: float,
    *,
    applied: int | None = None,
    ready: bool = True,
    readings: tuple[measurement.Measurement, ...] = (),
    **fields: Any,
) -> observation.Observation:
    """An observation at T0 + `seconds`, the router reporting `applied`% on the canary."""
    weights = steps.weights(applied) if applied is not None else None
    return observation.Observation(
        now=at(seconds), canary_ready=ready, applied=weights, readings=readings, **fields
    )


# What the release reads from a Route whose gateway refused it (issue 18, finding 2).
GATEWAY_SAID = (
    "RouteNotAccepted: gateway default/public did not accept the route:"
    " NotAllowedByListeners: no listener allows routes from namespace default"
)


def rate(value: float | None, seconds: float, samples: int | None = 100) -> measurement.Measurement:
    """A reading of the threshold metric `error-rate` (max 0.01, minSamples 10)."""
    return measurement.Measurement("error-rate", at(seconds), value=value, samples=samples)


def split(
    canary: tuple[int, int], stable: tuple[int, int], seconds: float
) -> measurement.Measurement:
    """A reading of the sequential metric: (requests, errors) of canary and stable."""
    return measurement.Measurement(
        "errors-vs-stable",
        at(seconds),
        canary=measurement.Counts(*canary),
        stable=measurement.Counts(*stable),
    )


def failing(seconds: float, n: int = 2) -> tuple[measurement.Measurement, ...]:
    """`n` failed readings of `error-rate` (failureLimit 1: two fail the metric)."""
    return tuple(rate(0.05, seconds) for _ in range(n))


FAILED_BEFORE = MetricStatus(
    metric="error-rate",
    verdict=Verdict.FAILED,
    value=0.05,
    reason="0.05 > max 0.01",
    at=at(20),
    measurements=2,
    failures=2,
)


@dataclasses.dataclass(frozen=True)
class Case:
    spec: ReleaseSpec
    status: ReleaseStatus
    obs: observation.Observation
    canary: int | None  # canary weight of the SetWeights the row asks for; None: no routing
    fields: dict[str, Any] = dataclasses.field(default_factory=dict)  # status after deciding
    by: str | None = None  # who the row's history entry names


CASES: dict[str, Case] = {
    # --- commands ---------------------------------------------------------------------
    "supersede": Case(
        release(),
        status(Phase.PROGRESSING, 2, 50),
        observe(30, applied=50, superseded_by="web-00003"),
        canary=0,
        fields={"finished_at": at(30), "step_index": 2},
    ),
    "abort-pending": Case(
        release(abort=True),
        status(Phase.PENDING),
        observe(5, ready=False),
        canary=0,
        fields={"finished_at": at(5)},
    ),
    "abort": Case(
        release(abort=True),
        status(Phase.PROGRESSING, 1, 10),
        observe(30, applied=10),
        canary=0,
        fields={"finished_at": None, "step_index": 1},
    ),
    "promote-full": Case(
        release(promote=promote(3, 100, full=True)),
        status(Phase.PAUSED, 3, 50, pause_reason="promotion"),
        observe(120, applied=50),
        canary=100,
        fields={"pause_reason": None, "last_command_at": at(100), "finished_at": None},
        by="alice",
    ),
    "promote-last-step": Case(
        release(promote=promote(LAST, 20)),
        status(Phase.PAUSED, LAST, 50, pause_reason="inconclusive"),
        observe(30, applied=50),
        canary=100,
        fields={"step_index": LAST, "pause_reason": None, "last_command_at": at(20)},
        by="alice",
    ),
    "promote-step": Case(
        release(promote=promote(3, 100)),
        status(Phase.PAUSED, 3, 50, pause_reason="promotion"),
        observe(120, applied=50),
        canary=50,
        fields={
            "step_index": 4,
            "step_started_at": at(120),
            "pause_reason": None,
            "last_command_at": at(100),
        },
        by="alice",
    ),
    "pause": Case(
        release(paused=True),
        status(Phase.PROGRESSING, 1, 10),
        observe(30, applied=10),
        canary=None,
        fields={"pause_reason": "user", "step_index": 1, "step_started_at": T0},
    ),
    "unpause-at-pause-step": Case(
        release(paused=False),
        status(Phase.PAUSED, 3, 50, pause_reason="user"),
        observe(10, applied=50),
        canary=None,
        fields={"pause_reason": "promotion", "step_index": 3},
    ),
    "resume": Case(
        release(resume=command(40)),
        status(Phase.PAUSED, 1, 10, pause_reason="inconclusive"),
        observe(45, applied=10),
        canary=10,
        fields={
            "pause_reason": None,
            "step_index": 1,
            "step_started_at": at(45),  # a resumed step restarts its evidence and its clock
            "last_command_at": at(40),
        },
        by="bob",
    ),
    "retry": Case(
        release(PAUSE_ON_FAILURE, retry=command(40)),
        status(Phase.PAUSED, 1, 10, pause_reason="failure", analysis=[FAILED_BEFORE]),
        observe(45, applied=10),
        canary=10,
        fields={
            "pause_reason": None,
            "step_index": 1,
            "step_started_at": at(45),
            "last_command_at": at(40),
        },
        by="bob",
    ),
    "promote-awaits-gate": Case(
        release(hooked("confirm-traffic-increase"), promote=promote(1, 100)),
        status(Phase.PAUSED, 1, 10, pause_reason="inconclusive"),
        observe(120, applied=10),
        canary=None,
        fields={"pause_reason": "confirmation", "step_index": 1, "last_command_at": at(100)},
        by="alice",
    ),
    "promote-over-rollout-gate": Case(
        release(
            hooked("confirm-rollout", "pre-rollout"),
            promote=PromoteRequest(
                requested_at=at(20), requested_by="alice", from_step=0, force=True
            ),
        ),
        status(Phase.PAUSED, 0, None, pause_reason="confirmation"),
        observe(30),
        canary=None,
        fields={"pause_reason": None, "weights": None, "last_command_at": at(20)},
        by="alice",
    ),
    # --- ticks: waiting for the canary ------------------------------------------------
    "start": Case(
        release(),
        status(Phase.PENDING, started_at=None),
        observe(5),
        canary=10,
        fields={"step_index": 0, "started_at": at(5), "step_started_at": at(5)},
    ),
    "canary-failed-pending": Case(
        release(),
        status(Phase.PENDING),
        observe(5, ready=False, canary_failure="crash loop: 5 restarts"),
        canary=0,
        fields={"finished_at": at(5)},
    ),
    "readiness-deadline": Case(
        release(),
        status(Phase.PENDING),
        observe(600, ready=False),
        canary=0,
        fields={"finished_at": at(600)},
    ),
    "wait-for-rollout-confirmation": Case(
        release(hooked("confirm-rollout")),
        status(Phase.PENDING),
        observe(5, hooks=(answer("confirm-rollout", "rollout", 403),)),
        canary=None,
        fields={"pause_reason": "confirmation", "weights": None},
    ),
    "pre-rollout-failed": Case(
        release(hooked("pre-rollout")),
        status(
            Phase.PENDING,
            webhooks=[
                WebhookStatus(
                    name="pre-rollout", type="pre-rollout", basis="pre-rollout", failures=1
                )
            ],
        ),
        observe(20, hooks=(answer("pre-rollout", "pre-rollout", 500),)),
        canary=0,
        fields={"finished_at": None},
    ),
    # --- ticks: waiting for a confirm-* webhook ---------------------------------------
    "rollout-confirmed": Case(
        release(hooked("confirm-rollout", "pre-rollout")),
        status(Phase.PAUSED, 0, None, pause_reason="confirmation"),
        observe(30, hooks=(answer("confirm-rollout", "rollout"),)),
        canary=None,
        fields={"pause_reason": None, "weights": None},
    ),
    "confirmed-promote-last-step": Case(
        release(hooked("confirm-promotion"), promote=promote(LAST, 20)),
        status(Phase.PAUSED, LAST, 50, pause_reason="confirmation", last_command_at=at(20)),
        observe(30, applied=50, hooks=(answer("confirm-promotion", f"step {LAST}"),)),
        canary=100,
        fields={"pause_reason": None, "step_index": LAST},
    ),
    "confirmed-promote-step": Case(
        release(hooked("confirm-traffic-increase"), promote=promote(1, 100)),
        status(Phase.PAUSED, 1, 10, pause_reason="confirmation", last_command_at=at(100)),
        observe(120, applied=10, hooks=(answer("confirm-traffic-increase", "step 1"),)),
        canary=50,
        fields={"pause_reason": None, "step_index": 2, "step_started_at": at(120)},
    ),
    "confirmed": Case(
        release(hooked("confirm-traffic-increase")),
        status(Phase.PAUSED, 1, 10, pause_reason="confirmation"),
        observe(30, applied=10, hooks=(answer("confirm-traffic-increase", "step 1"),)),
        canary=None,
        fields={"pause_reason": None, "step_index": 1},
    ),
    # --- ticks: running ---------------------------------------------------------------
    "rollback-requested": Case(
        release(hooked("rollback")),
        status(Phase.PROGRESSING, 1, 10),
        observe(30, applied=10, hooks=(answer("rollback", "running"),)),
        canary=0,
        fields={"finished_at": None, "step_index": 1},
    ),
    "canary-failed": Case(
        release(),
        status(Phase.PROGRESSING, 1, 10),
        observe(30, applied=10, canary_failure="crash loop: 5 restarts"),
        canary=0,
        fields={"finished_at": None, "step_index": 1},
    ),
    "analysis-failed": Case(
        release(),
        status(Phase.PROGRESSING, 1, 10),
        observe(30, applied=10, readings=failing(30)),
        canary=0,
        fields={"finished_at": None, "step_index": 1},
    ),
    "analysis-failed-pause": Case(
        release(PAUSE_ON_FAILURE),
        status(Phase.PROGRESSING, 1, 10),
        observe(30, applied=10, readings=failing(30)),
        canary=None,
        fields={"pause_reason": "failure", "step_index": 1},
    ),
    "analysis-errors": Case(
        release(),
        status(Phase.PROGRESSING, 1, 10),
        observe(
            30,
            applied=10,
            readings=tuple(
                measurement.Measurement("error-rate", at(30), error="connection refused")
                for _ in range(3)
            ),
        ),
        canary=None,
        fields={"pause_reason": "errors", "step_index": 1},
    ),
    "analysis-inconclusive": Case(
        release(),
        status(Phase.PROGRESSING, 1, 10),
        observe(30, applied=10, readings=tuple(rate(None, 30) for _ in range(3))),
        canary=None,
        fields={"pause_reason": "inconclusive", "step_index": 1},
    ),
    "route-not-in-effect": Case(
        release(),
        status(Phase.PROGRESSING, 2, 50),
        observe(600, applied=10, route_problem=GATEWAY_SAID),
        canary=0,
        fields={"step_index": 2},
    ),
    "weights-stuck": Case(
        release(),
        status(Phase.PROGRESSING, 2, 50),
        observe(600, applied=10),
        canary=0,
        fields={"finished_at": None, "step_index": 2},
    ),
    "wait-at-pause-step": Case(
        release(),
        status(Phase.PROGRESSING, 3, 50),
        observe(5, applied=50),
        canary=None,
        fields={"pause_reason": "promotion", "step_index": 3},
    ),
    "wait-for-confirmation": Case(
        release(hooked("confirm-traffic-increase", plan=[{"setWeight": 10}, {"setWeight": 50}])),
        status(Phase.PROGRESSING, 0, 10),
        observe(5, applied=10),
        canary=None,
        fields={"pause_reason": "confirmation", "step_index": 0},
    ),
    "last-step-done": Case(
        release(),
        status(Phase.PROGRESSING, LAST, 50),
        observe(60, applied=50, readings=(rate(0.001, 60),)),
        canary=100,
        fields={"step_index": LAST, "finished_at": None},
    ),
    "step-done": Case(
        release(),
        status(Phase.PROGRESSING, 0, 10),
        observe(5, applied=10),
        canary=10,
        fields={"step_index": 1, "step_started_at": at(5)},
    ),
    # --- ticks: moving traffic to the end ---------------------------------------------
    "route-not-in-effect-ending": Case(
        release(),
        status(
            Phase.PROMOTING,
            LAST,
            100,
            history=[HistoryEntry(at=at(30), event="Promoting", phase=Phase.PROMOTING)],
        ),
        observe(30 + 600, applied=50, route_problem=GATEWAY_SAID),
        canary=0,
        fields={"finished_at": at(630)},
    ),
    "promoted": Case(
        release(),
        status(Phase.PROMOTING, LAST, 100),
        observe(70, applied=100),
        canary=None,
        fields={"finished_at": at(70), "pause_reason": None},
    ),
    "aborted": Case(
        release(abort=True),
        status(Phase.ROLLING_BACK, 1, 0),
        observe(40, applied=0),
        canary=None,
        fields={"finished_at": at(40)},
    ),
    "rolled-back": Case(
        release(),
        status(Phase.ROLLING_BACK, 1, 0),
        observe(40, applied=0),
        canary=None,
        fields={"finished_at": at(40)},
    ),
}

ROWS = {row.name: row for row in table.ROWS}
ROUTING_CALLBACKS = {"route_to_stable", "route_to_canary", "begin", "advance_step", "restart_step"}


def set_weights(decision: engine.Decision) -> list[int]:
    """The canary weights of the SetWeights actions, checking each is a full split."""
    found = []
    for action in decision.actions:
        if isinstance(action, actions.SetWeights):
            assert action.weights.stable + action.weights.canary == 100
            found.append(action.weights.canary)
    return found


def events(decision: engine.Decision) -> list[str]:
    return [a.reason for a in decision.actions if isinstance(a, actions.Event)]


def test_every_row_has_a_scenario() -> None:
    """A new row of the table fails here until it gets a scenario below."""
    assert len(ROWS) == len(table.ROWS), "row names must be unique"
    assert set(CASES) == set(ROWS)


@pytest.mark.parametrize("name", list(CASES), ids=list(CASES))
def test_row(name: str) -> None:
    """The row fires: destination phase, event, absolute weights and status fields."""
    row, case = ROWS[name], CASES[name]
    assert case.status.phase in row.source
    assert (case.canary is not None) == bool(ROUTING_CALLBACKS & set(row.after))

    decision = engine.decide(case.spec, case.status, case.obs)
    new = decision.status

    assert new.phase is row.dest
    assert (row.event, row.warning) in [
        (a.reason, a.warning) for a in decision.actions if isinstance(a, actions.Event)
    ]
    if case.canary is None:
        assert set_weights(decision) == []
    else:
        assert set_weights(decision)[-1] == case.canary
        assert new.weights == steps.weights(case.canary)
    entries = [h for h in new.history if h.event == row.event and h.phase is row.dest]
    assert len(entries) == 1
    assert entries[0].at == case.obs.now
    assert entries[0].by == case.by
    for field, expected in case.fields.items():
        assert getattr(new, field) == expected, field
    if row.dest in (Phase.SUCCEEDED, Phase.ROLLED_BACK, Phase.ABORTED):
        assert decision.requeue_after is None


# The message of each row's event, as users read it in the history and the events.
MESSAGES = {
    "supersede": "superseded by web-00003",
    "abort-pending": "aborted by a user",
    "abort": "aborted by a user",
    "promote-full": "PromotedFull: stable 0% / canary 100%",
    "promote-last-step": "PromotedStep: stable 0% / canary 100%",
    "promote-step": "step 5: pause 30s",
    "pause": "Paused: stable 90% / canary 10%",
    "unpause-at-pause-step": "waiting for `rollout promote` at a pause step",
    "resume": "Resumed: stable 90% / canary 10%",
    "retry": "Retried: stable 90% / canary 10%",
    "start": "step 1: setWeight 10%",
    "canary-failed-pending": "canary web-00002 failed: crash loop: 5 restarts",
    "readiness-deadline": "canary web-00002 not ready within 10m",
    "canary-failed": "canary web-00002 failed: crash loop: 5 restarts",
    "analysis-failed": "error-rate: 0.05 > max 0.01",
    "analysis-failed-pause": "error-rate: 0.05 > max 0.01",
    "analysis-errors": "provider errors: error-rate: provider error: connection refused",
    "analysis-inconclusive": "inconclusive: error-rate: no data",
    "weights-stuck": "traffic weights were not applied within the progress deadline",
    "route-not-in-effect": f"traffic weights were not in effect within 10m: {GATEWAY_SAID}",
    "route-not-in-effect-ending": (
        f"traffic weights were not in effect within 10m: {GATEWAY_SAID}"
    ),
    "wait-at-pause-step": "WaitingForPromotion: stable 50% / canary 50%",
    "last-step-done": "Promoting: stable 0% / canary 100%",
    "step-done": "step 2: analysis for 1m (all metrics)",
    "promoted": "Promoted: stable 0% / canary 100%",
    "promote-awaits-gate": "waiting for confirm-traffic-increase (not answered yet)",
    "promote-over-rollout-gate": "confirm-rollout overridden by alice",
    "wait-for-rollout-confirmation": (
        "waiting for confirm-rollout (last: HTTP 403: no from http://127.0.0.1:9/…)"
    ),
    "pre-rollout-failed": (
        "pre-rollout webhook pre-rollout: 2 failed calls (failureLimit 1; last: HTTP 500: no)"
    ),
    "rollout-confirmed": "confirm-rollout said yes",
    "confirmed-promote-last-step": "confirm-promotion said yes: promoting",
    "confirmed-promote-step": "confirm-traffic-increase said yes: step 3: setWeight 50%",
    "confirmed": "confirm-traffic-increase said yes",
    "rollback-requested": "the rollback webhook rollback answered 2xx",
    "wait-for-confirmation": "waiting for confirm-traffic-increase (not answered yet)",
    "aborted": "Aborted: stable 100% / canary 0%",
    "rolled-back": "RolledBack: stable 100% / canary 0%",
}


@pytest.mark.parametrize("name", list(CASES), ids=list(CASES))
def test_row_message(name: str) -> None:
    """The row's own template words its event, the same in the action and the history."""
    row, case = ROWS[name], CASES[name]
    decision = engine.decide(case.spec, case.status, case.obs)
    said = [a.message for a in decision.actions if isinstance(a, actions.Event)]
    entries = [h for h in decision.status.history if h.event == row.event and h.phase is row.dest]
    assert entries[0].message == MESSAGES[name]
    assert MESSAGES[name] in said


def test_default_message_without_weights_is_the_event_alone() -> None:
    """Before any traffic moved, the default template leaves out the split."""
    decision = engine.decide(release(paused=True), status(Phase.PROGRESSING, 0), observe(5))
    assert decision.status.history[-1].message == "Paused"


# --- commands ---------------------------------------------------------------------------


def test_promote_from_stale_step_is_ignored() -> None:
    """A promote naming another step than the current one is recorded, not applied."""
    spec = release(promote=promote(1, 100))
    before = status(Phase.PAUSED, 3, 50, pause_reason="promotion")

    decision = engine.decide(spec, before, observe(120, applied=50))

    new = decision.status
    assert (new.phase, new.step_index, new.weights) == (Phase.PAUSED, 3, steps.weights(50))
    assert new.pause_reason == "promotion"
    assert set_weights(decision) == []
    assert events(decision) == ["PromoteIgnored"]
    last = new.history[-1]
    assert last.event == "PromoteIgnored"
    # Step numbers as people read them, from 1: fromStep 1 is step 2, stepIndex 3 step 4.
    assert last.message == "promote from step 2 ignored: already past it (at step 4)"
    assert new.last_command_at == at(100)


def test_promote_without_from_step_applies_at_the_current_step() -> None:
    """A promote stored without fromStep (before the field, or a hand-written patch)
    promotes the step the release is at when the controller handles it."""
    request = PromoteRequest.model_validate({"requestedAt": at(100).isoformat()})
    assert request.from_step is None
    spec = release(promote=request)
    before = status(Phase.PAUSED, 3, 50, pause_reason="promotion")

    decision = engine.decide(spec, before, observe(120, applied=50))

    assert decision.status.step_index == 4
    assert events(decision)[0] == "PromotedStep"
    assert decision.status.last_command_at == at(100)


def test_repeated_promote_is_a_noop() -> None:
    """The same promote (same requestedAt) seen again never moves a second step."""
    spec = release(promote=promote(3, 100))
    first = engine.decide(spec, status(Phase.PAUSED, 3, 50, pause_reason="promotion"), observe(120))
    assert first.status.step_index == 4

    again = engine.decide(spec, first.status, observe(121))

    assert again.status.step_index == 4
    assert again.status.phase is Phase.PROGRESSING
    assert not {"PromotedStep", "PromoteIgnored"} & set(events(again))
    assert again.status.last_command_at == at(100)


def test_promote_full_waits_for_a_ready_canary() -> None:
    """promote --full on an unready canary is ignored with the reason."""
    spec = release(promote=promote(1, 20, full=True))

    decision = engine.decide(spec, status(Phase.PROGRESSING, 1, 10), observe(30, ready=False))

    assert decision.status.phase is Phase.PROGRESSING
    assert set_weights(decision) == []
    assert decision.status.history[-1].event == "PromoteIgnored"
    assert "not ready" in decision.status.history[-1].message


@pytest.mark.parametrize("step", [1, LAST], ids=["analysis-step", "last-step"])
def test_promote_one_step_while_progressing_is_ignored(step: int) -> None:
    """One step is promoted only from Paused (as the CLI offers it): while Progressing
    the step moves on its own, so the promote is recorded as ignored, with the reason."""
    spec = release(promote=promote(step, 20))

    decision = engine.decide(spec, status(Phase.PROGRESSING, step, 10), observe(25, applied=10))

    new = decision.status
    assert (new.phase, new.step_index) == (Phase.PROGRESSING, step)
    assert set_weights(decision) == []
    assert events(decision) == ["PromoteIgnored"]
    assert new.history[-1].message == "nothing to promote: the release is Progressing"
    assert new.last_command_at == at(20)


def test_promote_full_from_pending_goes_to_100_once_the_canary_is_ready() -> None:
    """`promote --full` applies to a Pending release (the CLI accepts it there): with the
    canary ready, straight to Promoting, recorded with who asked."""
    spec = release(promote=promote(0, 3, full=True))

    decision = engine.decide(spec, status(Phase.PENDING, started_at=None), observe(5))

    new = decision.status
    assert new.phase is Phase.PROMOTING
    assert set_weights(decision) == [100]
    entry = new.history[-1]
    assert (entry.event, entry.by, entry.phase) == ("PromotedFull", "alice", Phase.PROMOTING)
    assert "ReleaseStarted" not in events(decision)


def test_promote_full_from_pending_waits_for_a_ready_canary() -> None:
    """On a Pending release whose canary is not ready, --full is ignored with the reason."""
    spec = release(promote=promote(0, 3, full=True))

    decision = engine.decide(spec, status(Phase.PENDING), observe(5, ready=False))

    assert decision.status.phase is Phase.PENDING
    assert decision.status.history[-1].message == "the canary is not ready"


@pytest.mark.parametrize("which", ["resume", "retry"])
def test_resume_at_pause_step_is_ignored(which: str) -> None:
    """At a `pause: {}` step only promote moves on; resume and retry say so."""
    spec = release(**{which: command(100)})
    before = status(Phase.PAUSED, 3, 50, pause_reason="promotion")

    decision = engine.decide(spec, before, observe(120, applied=50))

    new = decision.status
    assert (new.phase, new.step_index, new.pause_reason) == (Phase.PAUSED, 3, "promotion")
    assert events(decision) == [f"{which.title()}Ignored"]
    assert "use promote" in new.history[-1].message
    assert new.last_command_at == at(100)


def test_unpause_resumes_a_user_pause() -> None:
    """`paused` is a level: clearing it resumes a release the user paused."""
    before = status(Phase.PAUSED, 1, 10, pause_reason="user")

    decision = engine.decide(release(paused=False), before, observe(30, applied=10))

    assert decision.status.phase is Phase.PROGRESSING
    assert decision.status.pause_reason is None
    assert events(decision) == ["Resumed"]


def test_unpause_at_pause_step_waits_for_promotion() -> None:
    """Unpausing a user pause taken at a `pause: {}` step leaves it waiting for promote."""
    paused = engine.decide(release(paused=True), status(Phase.PROGRESSING, 3, 50), observe(5))
    assert paused.status.pause_reason == "user"

    decision = engine.decide(release(paused=False), paused.status, observe(10, applied=50))

    assert decision.status.phase is Phase.PAUSED
    assert decision.status.step_index == 3
    assert decision.status.pause_reason == "promotion"
    assert "promote" in decision.status.message


def test_pause_level_keeps_a_user_pause() -> None:
    """While `paused` stays set, the release stays paused."""
    before = status(Phase.PAUSED, 1, 10, pause_reason="user")

    decision = engine.decide(release(paused=True), before, observe(90, applied=10))

    assert decision.status.phase is Phase.PAUSED
    assert decision.status.step_index == 1
    assert events(decision) == []


TERMINAL_STATUSES = {
    phase.value: status(phase, 1, 0 if phase is not Phase.SUCCEEDED else 100, finished_at=at(60))
    for phase in (Phase.SUCCEEDED, Phase.ROLLED_BACK, Phase.ABORTED, Phase.SUPERSEDED, Phase.FAILED)
}
COMMANDS = {
    "abort": {"abort": True},
    "pause": {"paused": True},
    "promote": {"promote": promote(1, 100)},
    "promote-full": {"promote": promote(1, 100, full=True)},
    "resume": {"resume": command(100)},
    "retry": {"retry": command(100)},
}


@pytest.mark.parametrize("phase", list(TERMINAL_STATUSES))
@pytest.mark.parametrize("name", list(COMMANDS))
def test_commands_on_terminal_release_are_noops(phase: str, name: str) -> None:
    """A terminal release never changes and asks for nothing, whatever the command."""
    before = TERMINAL_STATUSES[phase]
    obs = observe(120, applied=20, readings=failing(120), superseded_by="web-00003")

    decision = engine.decide(release(**COMMANDS[name]), before, obs)

    assert decision.status == before
    assert decision.actions == ()
    assert decision.requeue_after is None


def test_abort_during_rollback_ends_aborted() -> None:
    """An abort while rolling back after a failure ends Aborted, not RolledBack."""
    failed = engine.decide(
        release(), status(Phase.PROGRESSING, 1, 10), observe(30, applied=10, readings=failing(30))
    )
    assert failed.status.phase is Phase.ROLLING_BACK

    lagging = engine.decide(release(abort=True), failed.status, observe(32, applied=10))
    assert lagging.status.phase is Phase.ROLLING_BACK
    done = engine.decide(release(abort=True), lagging.status, observe(34, applied=0))

    assert done.status.phase is Phase.ABORTED
    assert events(done) == ["Aborted"]


def test_rollback_event_names_the_failed_metric() -> None:
    """AnalysisFailed carries the failing metric and its reason, not a bare flag."""
    decision = engine.decide(
        release(), status(Phase.PROGRESSING, 1, 10), observe(30, applied=10, readings=failing(30))
    )

    (event,) = [a for a in decision.actions if isinstance(a, actions.Event)]
    assert event.reason == "AnalysisFailed"
    assert "error-rate: 0.05 > max 0.01" in event.message
    assert "error-rate: 0.05 > max 0.01" in decision.status.message


# --- analysis steps ---------------------------------------------------------------------

# Counts that rule out a canary/stable error ratio above 2 (pass e-value ≥ 1/alpha):
# 10% of the traffic on the canary, errors split exactly by traffic.
RULED_OUT = ((4000, 40), (36000, 360))
# Counts that show no regression but do not rule one out yet.
TOO_FEW = ((100, 1), (900, 9))


@pytest.mark.parametrize(
    ("policy", "seconds", "sequential", "advances"),
    [
        pytest.param(POLICY, 30, RULED_OUT, False, id="before-duration"),
        pytest.param(POLICY, 60, TOO_FEW, True, id="at-duration"),
        pytest.param(EARLY, 30, RULED_OUT, True, id="early-gate-with-advanceEarly"),
        pytest.param(EARLY, 30, TOO_FEW, False, id="passed-not-early-with-advanceEarly"),
    ],
)
def test_analysis_step_waits_for_its_duration(
    policy: policyspec.RolloutPolicySpec,
    seconds: float,
    sequential: tuple[tuple[int, int], tuple[int, int]],
    advances: bool,
) -> None:
    """An analysis step ends at its duration; earlier only with advanceEarly and an early gate."""
    readings = (rate(0.001, seconds), split(*sequential, seconds))

    decision = engine.decide(
        release(policy),
        status(Phase.PROGRESSING, 1, 10),
        observe(seconds, applied=10, readings=readings),
    )

    assert decision.status.phase is Phase.PROGRESSING
    assert decision.status.step_index == (2 if advances else 1)
    assert ("StepAdvanced" in events(decision)) is advances
    if advances:
        assert set(set_weights(decision)) == {50}  # never back to 25


# 10% canary traffic, 3 of the 5 errors on the canary: fail e-value ≈ 23, below 1/alpha.
SUSPICIOUS = ((100, 3), (900, 2))


@pytest.mark.parametrize(
    ("seconds", "sequential", "advances"),
    [
        pytest.param(60, SUSPICIOUS, False, id="suspect-keeps-observing"),
        pytest.param(60, TOO_FEW, True, id="not-suspect-at-duration"),
        pytest.param(179, SUSPICIOUS, False, id="suspect-before-maxDuration"),
        pytest.param(180, SUSPICIOUS, True, id="suspect-at-maxDuration"),
    ],
)
def test_suspected_regression_extends_the_step_to_max_duration(
    seconds: float, sequential: tuple[tuple[int, int], tuple[int, int]], advances: bool
) -> None:
    """With maxDuration, a suspected regression holds the weight until it clears or runs out."""
    readings = (rate(0.001, seconds), split(*sequential, seconds))
    obs = observe(seconds, applied=10, readings=readings)

    decision = engine.decide(release(PATIENT), status(Phase.PROGRESSING, 1, 10), obs)

    assert decision.status.phase is Phase.PROGRESSING
    assert decision.status.step_index == (2 if advances else 1)
    assert set_weights(decision) == ([50] if advances else [])


def test_analysis_step_needs_a_pass_of_every_gating_metric() -> None:
    """At the end of its duration, an analysis step without a Passed reading stays."""
    readings = (rate(0.001, 60),)  # errors-vs-stable has no reading in this step

    decision = engine.decide(
        release(), status(Phase.PROGRESSING, 1, 10), observe(60, applied=10, readings=readings)
    )

    assert decision.status.step_index == 1
    assert decision.status.phase is Phase.PROGRESSING
    assert "StepAdvanced" not in events(decision)


def test_human_promotion_skips_an_unpassed_gate_and_is_recorded() -> None:
    """Promote moves past an analysis step that has not passed, naming who did it."""
    spec = release(promote=promote(1, 20))
    before = status(Phase.PAUSED, 1, 10, pause_reason="inconclusive")

    decision = engine.decide(spec, before, observe(25, applied=10))

    new = decision.status
    assert (new.phase, new.step_index) == (Phase.PROGRESSING, 2)
    entry = new.history[-1]
    assert (entry.event, entry.by, entry.at) == ("PromotedStep", "alice", at(25))


# --- readings that must and must not roll back -----------------------------------------

NO_DATA = {
    "no-value": tuple(rate(None, 30) for _ in range(5)),
    "nan": tuple(rate(math.nan, 30) for _ in range(5)),
    "too-few-samples": tuple(rate(0.5, 30, samples=3) for _ in range(5)),
    "no-counts": tuple(measurement.Measurement("errors-vs-stable", at(30)) for _ in range(5)),
    "no-canary-requests": tuple(split((0, 0), (1000, 50), 30) for _ in range(5)),
}


@pytest.mark.parametrize("phase", [Phase.PROGRESSING, Phase.PAUSED])
@pytest.mark.parametrize("step", [1, 2], ids=["analysis-step", "setWeight-step"])
@pytest.mark.parametrize("kind", list(NO_DATA))
def test_inconclusive_never_rolls_back(kind: str, step: int, phase: Phase) -> None:
    """Missing data pauses at most; it never rolls back and never advances an analysis step."""
    canary = steps.weight_at(POLICY.expanded_steps(), step)
    before = status(phase, step, canary, pause_reason="user" if phase is Phase.PAUSED else None)

    decision = engine.decide(
        release(paused=phase is Phase.PAUSED),
        before,
        observe(30, applied=canary, readings=NO_DATA[kind]),
    )

    new = decision.status
    assert new.phase in (Phase.PROGRESSING, Phase.PAUSED)
    assert 0 not in set_weights(decision)
    if step == 1:
        assert new.step_index == 1
        assert new.phase is Phase.PAUSED
        assert new.pause_reason == ("inconclusive" if phase is Phase.PROGRESSING else "user")


@pytest.mark.parametrize(("step", "reason"), [(1, "user"), (3, "promotion"), (1, "inconclusive")])
def test_failure_while_paused_rolls_back(step: int, reason: str) -> None:
    """A metric over failureLimit rolls back a paused release too."""
    canary = steps.weight_at(POLICY.expanded_steps(), step)
    before = status(Phase.PAUSED, step, canary, pause_reason=reason)

    decision = engine.decide(
        release(paused=reason == "user"),
        before,
        observe(30, applied=canary, readings=failing(30)),
    )

    assert decision.status.phase is Phase.ROLLING_BACK
    assert events(decision) == ["AnalysisFailed"]
    assert set_weights(decision) == [0]


@pytest.mark.parametrize(
    ("reason", "intent"),
    [
        pytest.param("user", {"paused": False}, id="unpause"),
        pytest.param("inconclusive", {"resume": command(25)}, id="resume"),
        pytest.param("errors", {"retry": command(25)}, id="retry"),
    ],
)
def test_failure_seen_with_a_resume_still_rolls_back(reason: str, intent: dict[str, Any]) -> None:
    """Failed readings arriving with a resume are not wiped by the resume's fresh look."""
    before = status(Phase.PAUSED, 1, 10, pause_reason=reason)

    decision = engine.decide(
        release(**intent), before, observe(30, applied=10, readings=failing(30))
    )

    assert decision.status.phase is Phase.ROLLING_BACK
    assert "AnalysisFailed" in events(decision)
    assert set_weights(decision)[-1] == 0


def test_pause_on_failure_does_not_roll_back_a_paused_release() -> None:
    """With onFailure: pause, a failure while paused keeps the release paused."""
    before = status(Phase.PAUSED, 1, 10, pause_reason="user")

    decision = engine.decide(
        release(PAUSE_ON_FAILURE, paused=True),
        before,
        observe(30, applied=10, readings=failing(30)),
    )

    assert decision.status.phase is Phase.PAUSED
    assert set_weights(decision) == []


def test_resume_takes_a_fresh_look() -> None:
    """Resume after an inconclusive pause restarts the step: its counters zeroed, its
    clock from now, the release's evidence kept."""
    paused = engine.decide(
        release(),
        status(Phase.PROGRESSING, 1, 10),
        observe(30, applied=10, readings=(*NO_DATA["no-value"], split((100, 1), (900, 9), 30))),
    )
    assert paused.status.pause_reason == "inconclusive"

    resumed = engine.decide(release(resume=command(40)), paused.status, observe(45, applied=10))

    assert resumed.status.phase is Phase.PROGRESSING
    assert resumed.status.step_started_at == at(45)
    by_name = {m.metric: m for m in resumed.status.analysis}
    assert by_name["error-rate"].inconclusive == 0
    assert by_name["errors-vs-stable"].passes == 0
    evidence = by_name["errors-vs-stable"].evidence
    assert evidence is not None
    assert (evidence.canary_requests, evidence.stable_errors) == (100, 9)


STEPPED = make_policy(
    plan=[{"setWeight": 25}, {"pause": {"duration": "3s"}}, {"setWeight": 50}, {"pause": {}}]
)


def test_a_step_ends_when_the_router_already_has_the_next_steps_weights() -> None:
    """The status write after "setWeight 50" failed: the route has 50%, the status still
    says the pause before it (25%, over). Deciding again redoes the step (found through
    API faults: the release waited for 25% until its progress deadline)."""
    spec = release(STEPPED)
    paused = status(Phase.PROGRESSING, 1, 25, step_started_at=at(0))

    decision = engine.decide(spec, paused, observe(4, applied=50))

    assert decision.status.step_index >= 2
    assert decision.status.weights == steps.weights(50)
    assert set(set_weights(decision)) == {50}  # never back to 25


def test_a_step_does_not_end_early_for_the_next_steps_weights() -> None:
    """The route ahead does not cut a pause short: 3 s are still 3 s."""
    spec = release(STEPPED)
    paused = status(Phase.PROGRESSING, 1, 25, step_started_at=at(0))

    decision = engine.decide(spec, paused, observe(1, applied=50))

    assert decision.status.step_index == 1
    assert set_weights(decision) == []
