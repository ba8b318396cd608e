"""The webhooks in the engine (`rollout.release.hooks`), pure: which calls are due for a
release in each state, what their payload says, how answers fold into the status, and
that an answer counts only for what it was asked about."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollout.api import policyspec
from rollout.api.release import (
    HistoryEntry,
    PauseReason,
    Phase,
    ReleaseSpec,
    ReleaseStatus,
    WebhookStatus,
    Weights,
)
from rollout.release import hooks, observation

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
TYPES = [
    "confirm-rollout",
    "pre-rollout",
    "rollout",
    "confirm-traffic-increase",
    "confirm-promotion",
    "post-rollout",
    "rollback",
    "event",
]


def policy(*types: str, interval: str = "20s") -> policyspec.RolloutPolicySpec:
    return policyspec.RolloutPolicySpec.model_validate(
        {
            "steps": [{"setWeight": 10}, {"analysis": {"duration": "1m"}}, {"setWeight": 50}],
            "analysis": {
                "interval": interval,
                "failureLimit": 1,
                "metrics": [
                    {
                        "name": "errors",
                        "provider": {"local": {"stat": "error_rate"}},
                        "thresholds": {"max": 0.01},
                    }
                ],
            },
            "webhooks": [
                {
                    "name": t,
                    "type": t,
                    "url": f"https://gate.example/{t}?token=abc",
                    "metadata": {"team": "payments"},
                }
                for t in types
            ],
        }
    )


def spec(*types: str) -> ReleaseSpec:
    return ReleaseSpec(
        service="web",
        stable_revision="web-00001",
        canary_revision="web-00002",
        policy=policy(*types),
    )


def status(phase: Phase, step: int = 0, canary: int | None = 10, **fields: Any) -> ReleaseStatus:
    weights = Weights(stable=100 - canary, canary=canary) if canary is not None else None
    return ReleaseStatus(phase=phase, step_index=step, weights=weights, **fields)


def due(
    s: ReleaseSpec, st_: ReleaseStatus, at: datetime = T0, ready: bool = True
) -> dict[str, str]:
    return {
        c.hook.name: c.basis
        for c in hooks.due(s, st_, at, name="web-00002", namespace="default", canary_ready=ready)
    }


def answered(name: str, basis: str, *, ok: bool, at: datetime = T0, **more: Any) -> WebhookStatus:
    return WebhookStatus(
        name=name, type=name, basis=basis, passed=ok, last_call_at=at, calls=1, **more
    )


# --- when each type is due -----------------------------------------------------------------


def test_pending_asks_confirm_rollout_and_pre_rollout_only_once_the_canary_is_ready() -> None:
    s = spec(*TYPES)
    assert due(s, status(Phase.PENDING, canary=None), ready=False) == {"confirm-rollout": "rollout"}
    confirmed = status(
        Phase.PENDING, canary=None, webhooks=[answered("confirm-rollout", "rollout", ok=True)]
    )
    assert due(s, confirmed, ready=True) == {"pre-rollout": "pre-rollout"}


def test_pre_rollout_waits_for_confirm_rollout() -> None:
    s = spec("confirm-rollout", "pre-rollout")
    assert "pre-rollout" not in due(s, status(Phase.PENDING, canary=None))


def test_a_gate_is_asked_only_while_the_release_waits_on_it() -> None:
    s = spec("confirm-traffic-increase", "confirm-promotion")
    assert due(s, status(Phase.PROGRESSING, 0)) == {}
    waiting = status(Phase.PAUSED, 1, pause_reason=PauseReason.CONFIRMATION)
    assert due(s, waiting) == {"confirm-traffic-increase": "step 1"}
    at_last = status(Phase.PAUSED, 2, 50, pause_reason=PauseReason.CONFIRMATION)
    assert due(s, at_last) == {"confirm-promotion": "step 2"}
    paused_otherwise = status(Phase.PAUSED, 1, pause_reason=PauseReason.USER)
    assert due(s, paused_otherwise) == {}


def test_a_gate_that_said_no_is_asked_again_after_the_interval() -> None:
    s = spec("confirm-promotion")
    no = answered("confirm-promotion", "step 2", ok=False, at=T0)
    waiting = status(Phase.PAUSED, 2, 50, pause_reason=PauseReason.CONFIRMATION, webhooks=[no])
    assert due(s, waiting, T0 + timedelta(seconds=19)) == {}
    assert due(s, waiting, T0 + timedelta(seconds=20)) == {"confirm-promotion": "step 2"}
    assert hooks.next_due(s, waiting, T0, canary_ready=True) == T0 + timedelta(seconds=20)


def test_a_yes_for_one_step_is_no_yes_for_the_next() -> None:
    s = spec("confirm-traffic-increase")
    yes = answered("confirm-traffic-increase", "step 0", ok=True)
    waiting = status(Phase.PAUSED, 1, pause_reason=PauseReason.CONFIRMATION, webhooks=[yes])
    assert due(s, waiting) == {"confirm-traffic-increase": "step 1"}
    assert not hooks.confirmed(s.policy, waiting, hooks.T.CONFIRM_TRAFFIC_INCREASE)


def test_rollout_hooks_run_every_interval_at_analysis_steps_only() -> None:
    s = spec("rollout")
    assert due(s, status(Phase.PROGRESSING, 0)) == {}
    assert due(s, status(Phase.PROGRESSING, 1)) == {"rollout": "step 1"}
    called = status(Phase.PROGRESSING, 1, webhooks=[answered("rollout", "step 1", ok=True)])
    assert due(s, called, T0 + timedelta(seconds=10)) == {}
    assert due(s, called, T0 + timedelta(seconds=20)) == {"rollout": "step 1"}
    assert due(s, status(Phase.PAUSED, 1)) == {}


def test_rollback_hooks_are_polled_while_running_only() -> None:
    s = spec("rollback")
    for phase in (Phase.PROGRESSING, Phase.PAUSED):
        assert due(s, status(phase, 1)) == {"rollback": "running"}
    for phase in (Phase.PENDING, Phase.PROMOTING, Phase.ROLLING_BACK, Phase.SUCCEEDED):
        assert due(s, status(phase, 1)) == {}


def test_post_rollout_is_due_once_after_the_end() -> None:
    s = spec("post-rollout")
    assert due(s, status(Phase.PROGRESSING, 1)) == {}
    assert due(s, status(Phase.ROLLED_BACK, 1)) == {"post-rollout": "outcome"}
    sent = status(
        Phase.ROLLED_BACK, 1, webhooks=[answered("post-rollout", "outcome", ok=False, delivered=1)]
    )
    assert due(s, sent) == {}


def entries(n: int) -> list[HistoryEntry]:
    return [
        HistoryEntry(at=T0 + timedelta(seconds=i), event=f"E{i}", seq=i) for i in range(1, n + 1)
    ]


def test_event_hooks_deliver_the_history_one_entry_at_a_time_in_order() -> None:
    s = spec("event")
    st_ = status(Phase.PROGRESSING, 1, history=entries(3))
    assert due(s, st_) == {"event": "event 1"}
    after = st_.model_copy(
        update={"webhooks": [answered("event", "event 1", ok=True, delivered=1)]}
    )
    assert due(s, after) == {"event": "event 2"}  # no interval between deliveries
    done = st_.model_copy(
        update={"webhooks": [answered("event", "event 3", ok=False, delivered=3)]}
    )
    assert due(s, done) == {}


def test_the_payload_says_what_the_issue_names_and_the_metadata() -> None:
    s = spec("confirm-promotion")
    waiting = status(Phase.PAUSED, 2, 50, pause_reason=PauseReason.CONFIRMATION)
    (call,) = hooks.due(s, waiting, T0, name="web-00002", namespace="shop", canary_ready=True)
    assert call.payload == {
        "name": "confirm-promotion",
        "type": "confirm-promotion",
        "namespace": "shop",
        "service": "web",
        "release": "web-00002",
        "phase": "Paused",
        "stepIndex": 2,
        "weights": {"stable": 50, "canary": 50},
        "stableRevision": "web-00001",
        "canaryRevision": "web-00002",
        "reason": "WaitingForConfirmation",
        "message": "",
        "metadata": {"team": "payments"},
        "timestamp": T0,
    }


def test_an_event_payload_is_the_entry() -> None:
    s = spec("event")
    entry = HistoryEntry(
        at=T0, event="StepAdvanced", message="step 2", seq=4, phase=Phase.PROGRESSING, step_index=1
    )
    st_ = status(Phase.PROGRESSING, 2, 50, history=[entry])
    (call,) = hooks.due(
        s, st_, T0 + timedelta(minutes=5), name="r", namespace="d", canary_ready=True
    )
    body = call.payload
    assert (body["reason"], body["message"], body["stepIndex"], body["timestamp"]) == (
        "StepAdvanced",
        "step 2",
        1,
        T0,
    )


# --- answers -----------------------------------------------------------------------------


def answer(name: str, basis: str, code: int) -> observation.HookAnswer:
    ok = 200 <= code < 300
    return observation.HookAnswer(name, basis, ok, code, None if ok else f"HTTP {code}")


def test_answers_for_one_basis_count_together_and_a_new_basis_starts_afresh() -> None:
    p = policy("rollout")
    st_ = status(Phase.PROGRESSING, 1)
    statuses, _ = hooks.fold(p, st_, [answer("rollout", "step 1", 500)] * 2, T0)
    assert (statuses[0].failures, statuses[0].passes, statuses[0].calls) == (2, 0, 2)
    assert hooks.checks_failed(p, st_.model_copy(update={"webhooks": statuses}))
    later = st_.model_copy(update={"step_index": 3, "webhooks": statuses})
    statuses, _ = hooks.fold(p, later, [answer("rollout", "step 3", 200)], T0)
    assert (statuses[0].failures, statuses[0].passes, statuses[0].calls) == (0, 1, 3)


def test_events_of_answers_name_the_hook_but_not_its_url() -> None:
    p = policy("confirm-promotion", "rollout", "rollback", "event")
    _, events = hooks.fold(
        p,
        status(Phase.PAUSED, 2, 50),
        [
            answer("confirm-promotion", "step 2", 403),
            answer("rollout", "step 2", 500),
            answer("rollback", "running", 404),
            answer("event", "event 1", 200),
        ],
        T0,
    )
    assert [(e.reason, e.warning) for e in events] == [
        ("WebhookDenied", False),
        ("WebhookFailed", True),
    ]
    assert all("gate.example" not in e.message and "token" not in e.message for e in events)


def test_an_answer_of_a_hook_the_policy_does_not_name_is_ignored() -> None:
    statuses, events = hooks.fold(policy(), status(Phase.PROGRESSING), [answer("x", "b", 200)], T0)
    assert (statuses, events) == ([], [])


def test_force_takes_the_waiting_gate_as_passed_and_says_who() -> None:
    p = policy("confirm-promotion")
    waiting = status(Phase.PAUSED, 2, 50, pause_reason=PauseReason.CONFIRMATION)
    statuses = hooks.override(p, waiting, "alice")
    assert hooks.confirmed(
        p, waiting.model_copy(update={"webhooks": statuses}), hooks.T.CONFIRM_PROMOTION
    )
    assert statuses[0].error == "overridden by alice (promote --force)"


def test_the_wait_is_described_with_the_last_answer_and_the_host_only() -> None:
    p = policy("confirm-promotion")
    no = answered("confirm-promotion", "step 2", ok=False, http_status=403, error="HTTP 403: no")
    waiting = status(Phase.PAUSED, 2, 50, pause_reason=PauseReason.CONFIRMATION, webhooks=[no])
    assert hooks.describe_wait(p, waiting) == (
        "waiting for confirm-promotion (last: HTTP 403: no from https://gate.example/…)"
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.slack.com/services/T0/B0/secret", "https://hooks.slack.com/…"),
        ("http://user:pw@gate:8080/p?q=1", "http://gate:8080/…"),
        ("https://gate.example?token=x", "https://gate.example/…"),
    ],
)
def test_where_shows_scheme_and_host_only(url: str, shown: str) -> None:
    assert hooks.where(url) == shown


@given(
    kinds=st.lists(st.sampled_from(TYPES), min_size=1, max_size=8, unique=True),
    phase=st.sampled_from(list(Phase)),
    step=st.integers(0, 2),
    reason=st.sampled_from([None, *PauseReason]),
    traffic=st.booleans(),
)
def test_nothing_is_due_twice_and_every_call_names_a_hook_of_the_policy(
    kinds: list[str], phase: Phase, step: int, reason: PauseReason | None, traffic: bool
) -> None:
    s = spec(*kinds)
    st_ = status(phase, step, 10 if traffic else None, pause_reason=reason, history=entries(2))
    calls = hooks.due(s, st_, T0, name="r", namespace="d", canary_ready=True)
    names = [c.hook.name for c in calls]
    assert len(names) == len(set(names))
    assert set(names) <= set(kinds)
    nxt = hooks.next_due(s, st_, T0, canary_ready=True)
    assert (nxt == T0) == bool(calls)


def test_an_answer_that_does_not_change_makes_no_new_event() -> None:
    p = policy("confirm-promotion")
    st_ = status(Phase.PAUSED, 2, 50, pause_reason=PauseReason.CONFIRMATION)
    seen = []
    for code in (403, 403, 403, 503, 200):
        statuses, events = hooks.fold(p, st_, [answer("confirm-promotion", "step 2", code)], T0)
        st_ = st_.model_copy(update={"webhooks": statuses})
        seen.append([e.reason for e in events])
    assert seen == [["WebhookDenied"], [], [], ["WebhookDenied"], ["WebhookPassed"]]
