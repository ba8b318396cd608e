"""The release's own progress deadline (a canary not ready in Pending) counts from the
release's last entry into Pending — its start, or a confirm-rollout gate's yes that
brought it back — not from its start alone (issue 19)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rollout.api import policyspec
from rollout.api.release import HistoryEntry, Phase, ReleaseSpec, ReleaseStatus
from rollout.release import engine, observation

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
POLICY = policyspec.RolloutPolicySpec.model_validate(
    {"steps": [{"setWeight": 20}, {"pause": {}}], "progressDeadline": "1m"}
)
SPEC = ReleaseSpec(
    service="web", stable_revision="web-00001", canary_revision="web-00002", policy=POLICY
)


def pending(*, back_at: datetime | None) -> ReleaseStatus:
    """Started at T0; with `back_at`, Pending again since then (a gate said yes)."""
    history = []
    if back_at is not None:
        history = [
            HistoryEntry(at=T0, event="WaitingForConfirmation", seq=1, phase=Phase.PAUSED),
            HistoryEntry(at=back_at, event="Confirmed", seq=2, phase=Phase.PENDING),
            HistoryEntry(at=back_at, event="PromoteIgnored", seq=3, phase=None),
        ]
    return ReleaseStatus(phase=Phase.PENDING, started_at=T0, history=history)


@pytest.mark.parametrize(
    ("back_at", "after", "phase"),
    [
        pytest.param(None, 59, Phase.PENDING, id="started-within"),
        pytest.param(None, 60, Phase.FAILED, id="started-past"),
        pytest.param(T0 + timedelta(minutes=10), 10 * 60 + 59, Phase.PENDING, id="back-within"),
        pytest.param(T0 + timedelta(minutes=10), 11 * 60, Phase.FAILED, id="back-past"),
    ],
)
def test_the_pending_deadline_counts_from_the_last_entry_into_pending(
    back_at: datetime | None, after: int, phase: Phase
) -> None:
    now = T0 + timedelta(seconds=after)
    obs = observation.Observation(now=now, canary_ready=False, readiness_wakes=True)
    decision = engine.decide(SPEC, pending(back_at=back_at), obs)
    assert decision.status.phase is phase
    if phase is Phase.PENDING:
        due = (back_at or T0) + timedelta(minutes=1)
        assert decision.requeue_after == due - now  # woken at the deadline, not before
