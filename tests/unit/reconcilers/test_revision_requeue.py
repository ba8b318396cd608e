"""When the Revision reconciler looks at a revision again (`revision._requeue`): every
second while a polled workload moves; a watched one (`RuntimeState.watched`, the
Kubernetes runtime's Deployment watch) wakes it, so only a slow resync and the
revision's progress deadline remain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rollout.api import revision
from rollout.api.revision import RoutingState
from rollout.platforms import ports
from rollout.reconcilers import revision as reconciler
from rollout.reconcilers import scaling

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def rev(deadline: str = "10m") -> revision.Revision:
    """A revision starting since T0 (its Ready Unknown since then)."""
    return revision.Revision.model_validate(
        {
            "metadata": {"name": "web-00002", "namespace": "prod", "creationTimestamp": T0},
            "spec": {
                "service": "web",
                "progressDeadline": deadline,
                "template": {"spec": {"containers": [{"name": "app", "image": "web:2"}]}},
            },
            "status": {
                "conditions": [
                    {"type": "Ready", "status": "Unknown", "reason": "Starting",
                     "lastTransitionTime": T0},
                ]
            },
        }
    )  # fmt: skip


STARTING = ports.RuntimeState(False, "Starting", "0/1 replicas available", replicas=1)
READY = ports.RuntimeState(True, "Ready", "", replicas=1, ready_replicas=1)
FAILED = ports.RuntimeState(False, "ProgressDeadlineExceeded", "timed out", failed=True)


@pytest.mark.parametrize(
    ("state", "watched", "deadline", "after", "requeue"),
    [
        pytest.param(STARTING, False, "10m", 0, timedelta(seconds=1), id="polled-starting"),
        pytest.param(STARTING, True, "10m", 0, timedelta(seconds=30), id="watched-starting"),
        pytest.param(STARTING, True, "20s", 5, timedelta(seconds=15), id="watched-deadline"),
        pytest.param(STARTING, True, "20s", 25, timedelta(seconds=30), id="watched-overdue"),
        pytest.param(READY, True, "10m", 0, timedelta(minutes=5), id="ready"),
        pytest.param(FAILED, True, "20s", 5, timedelta(minutes=5), id="failed"),
    ],
)
def test_a_watched_workload_is_not_polled(
    state: ports.RuntimeState, watched: bool, deadline: str, after: int, requeue: timedelta
) -> None:
    want = scaling.Want(replicas=1, state=RoutingState.ACTIVE)
    now = T0 + timedelta(seconds=after)
    seen = ports.RuntimeState(**{**state.__dict__, "watched": watched})
    assert reconciler._requeue(rev(deadline), want, seen, now) == requeue
