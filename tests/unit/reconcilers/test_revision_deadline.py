"""The revision's progress deadline counts from its last progress (issue 19): from its
activation or from the first look that found it not ready after it had been ready,
whichever is later — never from its creation alone. And the Ready message of a
revision not ready says what happened to it: the exit cause, the restarts, the last
lines of its output."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollout.api import condition, policyspec, revision
from rollout.api.release import Phase, ReleaseSpec, ReleaseStatus
from rollout.api.revision import RoutingState
from rollout.platforms import ports
from rollout.reconcilers import revision as reconciler
from rollout.reconcilers import scaling
from rollout.release import engine, observation

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DEADLINE = timedelta(seconds=30)
WANT = scaling.Want(replicas=1, state=RoutingState.ACTIVE)
READY = ports.RuntimeState(True, "Ready", "", replicas=1, ready_replicas=1)
DOWN = ports.RuntimeState(
    False, "Starting", "waiting for GET / on port 4321", replicas=1, restarts=1,
    last_exit="killed by SIGKILL",
)  # fmt: skip


def a_revision() -> revision.Revision:
    return revision.Revision.model_validate(
        {
            "metadata": {"name": "web-00002", "namespace": "default", "creationTimestamp": T0},
            "spec": {
                "service": "web",
                "progressDeadline": "30s",
                "template": {"spec": {"containers": [{"name": "app", "command": ["app"]}]}},
            },
        }
    )


def look(rev: revision.Revision, state: ports.RuntimeState, now: datetime) -> revision.Revision:
    """One pass of the reconciler's health decision; the revision with its new status."""
    status = rev.status.model_copy()
    reconciler._health(rev, WANT, state, status, now)
    return rev.model_copy(update={"status": status})


def reason(rev: revision.Revision) -> str:
    ready = rev.status.ready_condition()
    assert ready is not None
    return ready.reason


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(min_value=1, max_value=20), st.booleans()), min_size=1, max_size=60
    )
)
def test_only_a_whole_deadline_without_progress_fails_a_revision(
    looks: list[tuple[int, bool]],
) -> None:
    """Whatever the pattern of readiness, and however long after its creation: a
    revision is ProgressDeadlineExceeded exactly when it has been not ready for the
    whole deadline since its last progress (the first look that found it not ready:
    at its start, or after it had been ready) — so a canary that is ready again within
    the deadline is never failed by it, nor is the release waiting for `promote` on it."""
    rev, now = look(a_revision(), READY, T0), T0
    rel = waiting_for_promote(rev, now)
    since: datetime | None = None  # not ready since (None: ready at the last look)
    failed = False
    for seconds, ready in looks:
        now += timedelta(seconds=seconds)
        rev = look(rev, READY if ready else DOWN, now)
        if ready:
            since = None
            assert rev.status.ready
        else:
            since = now if since is None else since
            overdue = now - since >= DEADLINE
            assert (reason(rev) == "ProgressDeadlineExceeded") == overdue, now - since
            failed = failed or overdue
        # The release waiting for promote on this canary goes only when it failed.
        rel = decide(rel, rev, now)
        assert (rel.phase is Phase.PAUSED) == (not failed), rel.message


RELEASE = ReleaseSpec(
    service="web",
    stable_revision="web-00001",
    canary_revision="web-00002",
    policy=policyspec.RolloutPolicySpec.model_validate(
        {"steps": [{"setWeight": 20}, {"pause": {}}], "progressDeadline": "30s"}
    ),
)


def decide(status: ReleaseStatus, rev: revision.Revision, now: datetime) -> ReleaseStatus:
    """The release engine's decision on what the release reconciler observes of `rev`."""
    obs = observation.Observation(
        now=now,
        canary_ready=rev.status.serving(),
        canary_failure=rev.status.failure(),
        applied=status.weights,
        readiness_wakes=True,
    )
    return engine.decide(RELEASE, status, obs).status


def waiting_for_promote(rev: revision.Revision, now: datetime) -> ReleaseStatus:
    status = ReleaseStatus()
    for _ in range(3):
        status = decide(status, rev, now)
    assert status.phase is Phase.PAUSED
    assert status.pause_reason == "promotion"
    return status


def test_a_restart_long_after_creation_is_not_overdue() -> None:
    """Found: one kill -9 of a canary ready for longer than its deadline failed it at once."""
    rev = look(a_revision(), READY, T0 + timedelta(seconds=5))
    rev = look(rev, READY, T0 + timedelta(minutes=10))
    rev = look(rev, DOWN, T0 + timedelta(minutes=10, seconds=1))
    ready = rev.status.ready_condition()
    assert ready is not None
    assert ready.status is condition.ConditionStatus.UNKNOWN
    assert ready.message == "killed by SIGKILL, restarted 1 time; waiting for GET / on port 4321"
    later = T0 + timedelta(minutes=10, seconds=31)
    assert reconciler.overdue_at(rev, WANT, later) == T0 + timedelta(minutes=10, seconds=31)
    rev = look(rev, DOWN, later)
    ready = rev.status.ready_condition()
    assert ready is not None
    assert (ready.status, ready.reason) == (
        condition.ConditionStatus.FALSE,
        "ProgressDeadlineExceeded",
    )
    assert ready.message == (
        "not ready for 30s (killed by SIGKILL, restarted 1 time): waiting for GET / on port 4321"
    )


CRASHED = ports.RuntimeState(
    False,
    "CrashLoop",
    "5 restarts without staying ready for 60s (working directory /srv/web: workingDir)",
    replicas=1,
    restarts=5,
    failed=True,
    last_exit="exited with code 3",
    log_tail=("starting web", "x" * 500, "", "boom: bad config"),
)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        pytest.param(
            CRASHED,
            "exited with code 3, restarted 5 times; 5 restarts without staying ready for 60s"
            " (working directory /srv/web: workingDir)\nlast log lines:\n  "
            + "x" * 199
            + "…\n  boom: bad config",
            id="crash-loop",
        ),
        pytest.param(
            ports.RuntimeState(False, "Starting", "waiting for GET / on port 1"),
            "waiting for GET / on port 1",
            id="first-start",
        ),
        pytest.param(
            ports.RuntimeState(
                False, "Restarting", "restarting in 2s", restarts=3, last_exit="killed by SIGKILL",
                log_tail=("serving on 4321",),
            ),
            "killed by SIGKILL, restarted 3 times; restarting in 2s\nlast log lines:\n"
            "  serving on 4321",
            id="restarting",
        ),
    ],
)  # fmt: skip
def test_the_ready_message_names_the_cause_restarts_and_last_lines(
    state: ports.RuntimeState, expected: str
) -> None:
    """A crash-looping revision's condition says how it ended, how often it was
    restarted and its last lines of output (at most 3, each at most 200 characters)."""
    rev = look(a_revision(), state, T0 + timedelta(seconds=1))
    ready = rev.status.ready_condition()
    assert ready is not None
    assert ready.reason == state.reason
    assert ready.message == expected
    assert len(ready.message.splitlines()) <= 5
    if state.failed:  # a release's failure message: the first line, the one that says it all
        assert rev.status.failure() == f"CrashLoop: {expected.splitlines()[0]}"
