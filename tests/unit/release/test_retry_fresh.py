"""`retry` judges fresh data (issue 19): a step retried after its analysis stopped it
is judged on the readings taken after the retry — the sequential evidence that stopped
it is not carried into the retried step, and readings count nothing from before it
(`engine.fresh_since`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rollout.analysis import measurement
from rollout.api import policyspec
from rollout.api.release import Command, Phase, ReleaseSpec, ReleaseStatus, Verdict
from rollout.release import engine, observation

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
POLICY = policyspec.RolloutPolicySpec.model_validate(
    {
        "steps": [{"setWeight": 50}, {"analysis": {"duration": "10m"}}],
        "rollback": {"onFailure": "pause"},
        "analysis": {
            "interval": "10s",
            "failureLimit": 0,
            "metrics": [
                {
                    "name": "errors-vs-stable",
                    "provider": {"local": {"stat": "errors"}},
                    "compare": {"against": "stable", "method": "sequential", "alpha": 0.01},
                }
            ],
        },
    }
)


def reading(now: datetime, canary_errors: int) -> measurement.Measurement:
    """Ten seconds of traffic split 50/50; the stable fails 1 in 1000."""
    return measurement.Measurement(
        metric="errors-vs-stable",
        at=now,
        until=now,
        canary=measurement.Counts(1000, canary_errors),
        stable=measurement.Counts(1000, 1),
    )


def decide(
    status: ReleaseStatus,
    now: datetime,
    *,
    errors: int | None = None,
    retry_at: datetime | None = None,
) -> ReleaseStatus:
    spec = ReleaseSpec(
        service="web",
        stable_revision="web-00001",
        canary_revision="web-00002",
        policy=POLICY,
        retry=Command(requested_at=retry_at, requested_by="t") if retry_at else None,
    )
    readings = (reading(now, errors),) if errors is not None else ()
    obs = observation.Observation(
        now=now, canary_ready=True, applied=status.weights, readings=readings
    )
    return engine.decide(spec, status, obs).status


def test_a_retried_step_is_not_judged_on_the_evidence_that_stopped_it() -> None:
    """Found: the retried step carried the sequential test's evidence over its fail
    boundary, so its first reading — however healthy — failed it again."""
    now, status = T0, ReleaseStatus()
    for _ in range(3):
        status = decide(status, now)
        now += timedelta(seconds=1)
    assert status.phase is Phase.PROGRESSING
    assert status.step_index == 1
    while status.phase is Phase.PROGRESSING:  # a bad stretch: 5% canary errors
        status = decide(status, now, errors=50)
        now += timedelta(seconds=10)
    assert status.phase is Phase.PAUSED
    assert status.pause_reason == "failure"

    retried = now
    status = decide(status, now, retry_at=retried)
    assert status.phase is Phase.PROGRESSING
    assert engine.fresh_since(status) == retried
    for _ in range(3):  # healthy readings after the retry
        now += timedelta(seconds=10)
        status = decide(status, now, errors=1)
        assert status.phase is Phase.PROGRESSING, status.message
    metric = status.analysis[0]
    assert metric.verdict is not Verdict.FAILED
    assert metric.failures == 0
    assert metric.evidence is not None
    assert metric.evidence.canary_requests == 3000  # the three readings after the retry


def test_fresh_since_is_the_release_start_or_its_last_retry() -> None:
    status = ReleaseStatus(started_at=T0)
    assert engine.fresh_since(status) == T0
    assert engine.fresh_since(ReleaseStatus()) is None
