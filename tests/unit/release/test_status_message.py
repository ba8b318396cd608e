"""The one-line release message never repeats the phase (issue 19, README finding:
`RolledBack: RolledBack: …`, `Aborted: Aborted: Aborted: …`).

Views show the phase beside the message (`demo-00002 RolledBack: <message>`), so
`describe` must not start with it, nor with the phase in other words ("rolling back:",
"paused:"). Each release here is driven by the engine itself, as the controller does,
and its message is read the way `rollout status` and the tour read it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rollout.analysis import measurement
from rollout.api import meta, policyspec, service
from rollout.api.release import (
    HistoryEntry,
    PauseReason,
    Phase,
    Release,
    ReleaseSpec,
    ReleaseStatus,
)
from rollout.release import engine, observation, steps
from rollout.views import status as status_view

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
POLICY = policyspec.RolloutPolicySpec.model_validate(
    {
        "steps": [{"setWeight": 10}, {"analysis": {"duration": "1m"}}, {"pause": {}}],
        "analysis": {
            "interval": "15s",
            "failureLimit": 1,
            "metrics": [
                {
                    "name": "error-rate",
                    "provider": {"local": {"stat": "error_rate"}},
                    "thresholds": {"max": 0.01},
                    "minSamples": 10,
                }
            ],
        },
        "progressDeadline": "10m",
    }
)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def spec(**intent: Any) -> ReleaseSpec:
    return ReleaseSpec(
        service="web",
        stable_revision="web-00001",
        canary_revision="web-00002",
        policy=POLICY,
        **intent,
    )


def observe(seconds: float, applied: int | None, **fields: Any) -> observation.Observation:
    weights = steps.weights(applied) if applied is not None else None
    return observation.Observation(now=at(seconds), canary_ready=True, applied=weights, **fields)


def progressing() -> ReleaseStatus:
    return ReleaseStatus(
        phase=Phase.PROGRESSING,
        step_index=1,
        weights=steps.weights(10),
        started_at=T0,
        step_started_at=T0,
    )


def failing(seconds: float) -> tuple[measurement.Measurement, ...]:
    return tuple(
        measurement.Measurement("error-rate", at(seconds), value=0.05, samples=100)
        for _ in range(2)
    )


def rolled_back() -> ReleaseStatus:
    failed = engine.decide(spec(), progressing(), observe(30, 10, readings=failing(30)))
    assert failed.status.phase is Phase.ROLLING_BACK
    done = engine.decide(spec(), failed.status, observe(32, 0))
    assert done.status.phase is Phase.ROLLED_BACK
    return done.status


def aborted() -> ReleaseStatus:
    intent = spec(abort=True)
    asked = engine.decide(intent, progressing(), observe(30, 10))
    assert asked.status.phase is Phase.ROLLING_BACK
    done = engine.decide(intent, asked.status, observe(32, 0))
    assert done.status.phase is Phase.ABORTED
    return done.status


def line(rel_status: ReleaseStatus, rel_spec: ReleaseSpec | None = None) -> str:
    """The line `rollout status` (piped) and the tour print for this release."""
    svc = service.Service.model_validate(
        {
            "apiVersion": "rollout.dev/v1alpha1",
            "kind": "Service",
            "metadata": {"name": "web", "generation": 2},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "x"}]}}},
            "status": {"observedGeneration": 2, "latestCreatedRevision": "web-00002"},
        }
    )
    rel = Release(
        metadata=meta.ObjectMeta(name="web-00002"), spec=rel_spec or spec(), status=rel_status
    )
    return status_view.line(status_view.snapshot(svc, rel, at(40)))


@pytest.mark.parametrize("ended", [rolled_back, aborted], ids=["rolled-back", "aborted"])
def test_an_ended_release_says_its_phase_once(ended: Any) -> None:
    status = ended()
    text = line(status)
    phase = status.phase.value
    assert text.count(phase) == 1, text
    assert f"web-00002 {phase}: " in text
    assert not status.message.startswith(phase), status.message


def test_a_rolled_back_release_says_why() -> None:
    status = rolled_back()
    assert status.message.startswith("error-rate: 0.05 > max 0.01"), status.message
    assert line(status).endswith(f"RolledBack: {status.message}")


def test_an_aborted_release_says_who_aborted_it_not_its_event_again() -> None:
    """The cause is the AbortRequested entry, not the `Aborted: stable 100% / …` entry."""
    status = aborted()
    assert status.message == "aborted by a user", status.message
    assert line(status).endswith("| web-00002 Aborted: aborted by a user")


def test_an_ended_release_without_a_recorded_cause_says_where_traffic_went() -> None:
    entry = HistoryEntry(at=T0, event="RolledBack", message="RolledBack", seq=1)
    status = ReleaseStatus(phase=Phase.ROLLED_BACK, history=[entry])
    message = engine.describe(spec(), status, at(1))
    assert message == "rolled back; traffic back to web-00001"


@pytest.mark.parametrize(
    ("phase", "fields"),
    [
        (Phase.ROLLING_BACK, {}),
        (Phase.PROMOTING, {}),
        (Phase.PAUSED, {"pause_reason": PauseReason.USER}),
        (Phase.PAUSED, {"pause_reason": PauseReason.INCONCLUSIVE}),
        (Phase.PAUSED, {"pause_reason": PauseReason.ERRORS}),
        (Phase.PAUSED, {"pause_reason": PauseReason.FAILURE}),
        (Phase.PAUSED, {}),
    ],
)
def test_a_running_release_does_not_repeat_its_phase_in_other_words(
    phase: Phase, fields: dict[str, Any]
) -> None:
    status = ReleaseStatus(phase=phase, step_index=1, weights=steps.weights(10), **fields)
    message = engine.describe(spec(), status, at(1))
    words = {"RollingBack": "rolling back", "Promoting": "promoting", "Paused": "paused"}
    assert not message.lower().startswith(words[phase.value]), message


def test_a_progressing_release_names_its_step_once() -> None:
    """`Progressing: step 2/3: …`, not `Progressing step 2/3: step 2/3: …`."""
    text = line(progressing())
    assert "| web-00002 Progressing: step 2/3: analysis" in text, text
    assert text.count("step 2/3") == 1, text
