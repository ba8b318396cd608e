"""When the engine asks to decide again: the next reading, a step's end — never a past time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rollout.analysis import measurement
from rollout.api import policyspec
from rollout.api.release import MetricStatus, Phase, ReleaseSpec, ReleaseStatus, Weights
from rollout.release import engine, observation

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
POLICY = policyspec.RolloutPolicySpec.model_validate(
    {
        "steps": [
            {"setWeight": 1},
            {"analysis": {"duration": "30s", "maxDuration": "2m"}},
            {"setWeight": 50},
        ],
        "analysis": {
            "interval": "10s",
            "metrics": [
                {
                    "name": "errors-vs-stable",
                    "provider": {"local": {"stat": "errors"}},
                    "compare": {"against": "stable", "method": "sequential"},
                }
            ],
        },
    }
)
SPEC = ReleaseSpec(
    service="web", stable_revision="web-00001", canary_revision="web-00002", policy=POLICY
)
ONE = Weights(stable=99, canary=1)


def _status(last_reading: datetime, started: datetime) -> ReleaseStatus:
    return ReleaseStatus(
        phase=Phase.PROGRESSING,
        step_index=1,
        weights=ONE,
        started_at=started,
        step_started_at=started,
        analysis=[MetricStatus(metric="errors-vs-stable", at=last_reading)],
    )


def test_past_step_end_waits_for_the_next_reading_not_a_busy_loop() -> None:
    """Duration over, gate not yet passed: decide again when the next reading is due."""
    now = T0 + timedelta(seconds=35)
    status = _status(last_reading=T0 + timedelta(seconds=30), started=T0)
    decision = engine.decide(SPEC, status, observation.Observation(now=now, applied=ONE))
    assert decision.status.phase is Phase.PROGRESSING
    assert decision.status.step_index == 1
    assert decision.requeue_after == timedelta(seconds=5)


def test_step_end_ahead_is_when_to_decide() -> None:
    """A step that ends before the next reading is decided at its end."""
    now = T0 + timedelta(seconds=25)
    status = _status(last_reading=T0 + timedelta(seconds=22), started=T0)
    decision = engine.decide(SPEC, status, observation.Observation(now=now, applied=ONE))
    assert decision.requeue_after == timedelta(seconds=5)


def test_passing_reading_after_the_end_advances_the_step() -> None:
    """The reading the engine waited for passes: the step ends and the next weight is set."""
    now = T0 + timedelta(seconds=40)
    status = _status(last_reading=T0 + timedelta(seconds=30), started=T0)
    reading = measurement.Measurement(
        metric="errors-vs-stable",
        at=now,
        until=now - timedelta(seconds=10),
        canary=measurement.Counts(10, 0),
        stable=measurement.Counts(990, 1),
    )
    obs = observation.Observation(now=now, canary_ready=True, applied=ONE, readings=(reading,))
    decision = engine.decide(SPEC, status, obs)
    assert decision.status.step_index == 2
    assert decision.status.weights == Weights(stable=50, canary=50)


def test_waiting_for_a_canary_polls_unless_its_changes_wake_the_caller() -> None:
    """Pending, canary not ready: every 2 s, or — when readiness changes wake the
    caller (the controller) — at the progress deadline (10 m from the start)."""
    pending = ReleaseStatus(phase=Phase.PENDING, started_at=T0)
    now = T0 + timedelta(seconds=30)

    polled = engine.decide(SPEC, pending, observation.Observation(now=now))
    woken = engine.decide(SPEC, pending, observation.Observation(now=now, readiness_wakes=True))

    assert polled.status.phase is Phase.PENDING
    assert polled.requeue_after == engine.POLL
    assert woken.status.phase is Phase.PENDING
    assert woken.requeue_after == POLICY.progress_deadline - timedelta(seconds=30)
