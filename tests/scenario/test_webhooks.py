"""Webhooks through the whole controller: the real reconcilers on the memory platform
with a fake clock, and every hook a real HTTP call to a gate server on 127.0.0.1
(`hookgate.HookGate`), made on the controller's webhook threads.

Each gate that a policy names is asked, counted and obeyed: a denying
confirm-promotion holds the release at its last step until it says yes; a failing
pre-rollout rolls back before the canary got any traffic; a rollout hook is called
every interval and its failures roll back; a rollback hook's 2xx rolls back; event
hooks get every history entry in order, post-rollout hooks the outcome once; a
signed call verifies and its key is nowhere in the release; a hanging hook holds up
no other release.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from hookgate import HookGate

from rollout.analysis.providers import hooks as transport
from rollout.api.release import Phase, Release
from rollout.release import commands

REAL = 20.0  # real seconds a test may wait for its webhook calls in all


def policy(*hooks: dict[str, Any], steps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "rollout.dev/v1alpha1",
        "kind": "RolloutPolicy",
        "metadata": {"name": "gated"},
        "spec": {
            "steps": steps
            or [
                {"setWeight": 20},
                {"pause": {"duration": "30s"}},
                {"setWeight": 50},
                {"pause": {"duration": "30s"}},
            ],
            "progressDeadline": "10m",
            "webhooks": list(hooks),
        },
    }


def hook(gate: HookGate, kind: str, name: str | None = None, **fields: Any) -> dict[str, Any]:
    name = name or kind
    return {"name": name, "type": kind, "url": f"{gate.url}/{name}", "timeout": "2s"} | fields


def calls_in_flight(env: Any) -> int:
    """Webhook calls and notification messages being made (real HTTP, on threads)."""
    return int(env.controller.hooks.in_flight() + env.controller.notices.in_flight())


def settle(env: Any, done: Callable[[], bool], *, within: float = 600.0, hanging: int = 0) -> None:
    """Advance simulated time a second at a time until `done()`, letting the webhook
    calls in flight (real HTTP on the controller's threads) end in between — all but
    the `hanging` ones."""
    ends = time.monotonic() + REAL
    waited = 0.0
    while not done():
        while calls_in_flight(env) > hanging and time.monotonic() < ends:
            time.sleep(0.002)
        assert time.monotonic() < ends, "webhook calls did not end in real time"
        assert waited < within, f"not done within {within}s of simulated time"
        env.advance(1)
        waited += 1


def start_release(env: Any, policy_data: dict[str, Any]) -> str:
    """v1 out under `policy_data`, then v2: the name of its release."""
    env.apply(policy_data)
    env.apply(env.service(policy="gated"))
    settle(env, lambda: env.split() == {"web-00001": 100}, within=30)
    env.apply(env.service(version="v2", policy="gated"))
    settle(env, lambda: bool(env.releases()), within=30)
    name: str = env.releases()[0].metadata.name
    return name


def release_of(env: Any, name: str) -> Release:
    rel: Release = env.get_release(name)
    return rel


# --- gates --------------------------------------------------------------------------


def test_a_denying_confirm_promotion_holds_the_last_step_until_it_says_yes(
    env: Any, gates: Callable[..., HookGate]
) -> None:
    gate = gates(403)
    name = start_release(env, policy(hook(gate, "confirm-promotion", "approve")))
    settle(env, lambda: bool(release_of(env, name).status.webhooks))
    rel = release_of(env, name)
    assert (rel.status.phase, rel.status.step_index) == (Phase.PAUSED, 3)
    assert env.split() == {"web-00001": 50, "web-00002": 50}
    assert "waiting for confirm-promotion (last: HTTP 403" in rel.status.message

    env.advance(120)  # asked again every 15 s; still no
    settle(env, lambda: gate.count("/approve") >= 5, within=120)
    assert release_of(env, name).status.phase is Phase.PAUSED
    assert env.split() == {"web-00001": 50, "web-00002": 50}

    gate.status = 200
    settle(env, lambda: release_of(env, name).status.phase is Phase.SUCCEEDED, within=60)
    assert env.split() == {"web-00002": 100}
    bodies = gate.bodies("/approve")
    assert {b["type"] for b in bodies} == {"confirm-promotion"}
    assert {b["stepIndex"] for b in bodies} == {3}
    assert bodies[-1]["release"] == name
    assert bodies[-1]["service"] == "web"
    assert bodies[-1]["weights"] == {"stable": 50, "canary": 50}
    assert bodies[-1]["canaryRevision"] == "web-00002"
    events = env.events.reasons(name)
    assert "WaitingForConfirmation" in events
    assert "Confirmed" in events


def test_promote_over_a_waiting_gate_is_refused_unless_forced(
    env: Any, gates: Callable[..., HookGate]
) -> None:
    gate = gates(503)
    name = start_release(env, policy(hook(gate, "confirm-promotion", "approve", retries=0)))
    settle(env, lambda: release_of(env, name).status.pause_reason == "confirmation")
    rel = release_of(env, name)
    with pytest.raises(commands.NotApplicable, match="waiting for confirm-promotion"):
        commands.promote(rel, full=False, now=env.clock.now(), by="alice")
    with pytest.raises(commands.NotApplicable, match="waiting for confirm-promotion"):
        commands.resume(rel, now=env.clock.now(), by="alice")
    with pytest.raises(commands.NotApplicable, match="--force"):
        commands.promote(rel, full=True, now=env.clock.now(), by="alice")

    env.write_spec(
        name, commands.promote(rel, full=False, force=True, now=env.clock.now(), by="alice")
    )
    settle(env, lambda: release_of(env, name).status.phase is Phase.SUCCEEDED, within=30)
    overridden = [w for w in release_of(env, name).status.webhooks if w.name == "approve"]
    assert overridden[0].error == "overridden by alice (promote --force)"


def test_a_confirm_traffic_increase_gate_is_asked_before_each_increase(
    env: Any, gates: Callable[..., HookGate]
) -> None:
    gate = gates(200)
    name = start_release(env, policy(hook(gate, "confirm-traffic-increase", "more")))
    settle(env, lambda: release_of(env, name).status.phase is Phase.SUCCEEDED)
    # 20 → 20 (pause) asks nothing; 20 → 50 once; 50 → 100 is the promotion's gate
    assert [b["stepIndex"] for b in gate.bodies("/more")] == [1]


def test_confirm_rollout_holds_the_first_shift(env: Any, gates: Callable[..., HookGate]) -> None:
    gate = gates(403)
    name = start_release(env, policy(hook(gate, "confirm-rollout", "go")))
    settle(env, lambda: release_of(env, name).status.pause_reason == "confirmation")
    env.advance(60)
    rel = release_of(env, name)
    assert rel.status.phase is Phase.PAUSED
    assert rel.status.weights is None
    assert env.split() == {"web-00001": 100}
    gate.status = 200
    settle(env, lambda: release_of(env, name).status.phase is Phase.SUCCEEDED)


# --- checks -------------------------------------------------------------------------


def test_a_failing_pre_rollout_rolls_back_with_no_traffic_ever_sent(
    env: Any, gates: Callable[..., HookGate]
) -> None:
    gate = gates(500)
    name = start_release(env, policy(hook(gate, "pre-rollout", "smoke", retries=1)))
    seen: list[dict[str, int]] = []

    def ended() -> bool:
        seen.append(env.split())
        return release_of(env, name).status.phase in (Phase.ROLLED_BACK, Phase.PROGRESSING)

    settle(env, ended)
    rel = release_of(env, name)
    assert rel.status.phase is Phase.ROLLED_BACK
    assert all("web-00002" not in split for split in seen)
    assert all(h.weights is None or h.weights.canary == 0 for h in rel.status.history)
    assert gate.count("/smoke") == 2 * 2  # failureLimit 1: the second failed call, 2 attempts
    assert "pre-rollout webhook smoke: 2 failed calls" in rel.status.message


def test_a_rollout_hook_is_called_every_interval_and_its_failures_roll_back(
    env: Any, gates: Callable[..., HookGate]
) -> None:
    gate = gates(200)
    steps = [
        {"setWeight": 20},
        {"analysis": {"duration": "2m"}},
        {"setWeight": 50},
        {"analysis": {"duration": "2m"}},
    ]
    data = policy(hook(gate, "rollout", "load", retries=0), steps=steps)
    data["spec"]["analysis"] = {
        "interval": "20s",
        "failureLimit": 1,
        "metrics": [
            {
                "name": "errors",
                "provider": {"local": {"stat": "error_rate"}},
                "thresholds": {"max": 0.5},
            }
        ],
    }
    name = start_release(env, data)
    settle(env, lambda: release_of(env, name).status.step_index >= 2)
    calls = [b for b in gate.bodies("/load") if b["stepIndex"] == 1]
    assert 6 <= len(calls) <= 8  # 2 min at 20 s intervals
    gate.status = 500
    settle(env, lambda: release_of(env, name).status.phase is Phase.ROLLED_BACK)
    rel = release_of(env, name)
    assert "rollout webhook load: 2 failed calls" in " ".join(h.message for h in rel.status.history)
    assert env.split() == {"web-00001": 100}


def test_a_rollback_hook_answering_2xx_rolls_back(env: Any, gates: Callable[..., HookGate]) -> None:
    gate = gates(404)
    name = start_release(env, policy(hook(gate, "rollback", "kill", retries=0)))
    settle(env, lambda: gate.count("/kill") >= 2)
    assert release_of(env, name).status.phase is Phase.PROGRESSING
    gate.status = 200
    settle(env, lambda: release_of(env, name).status.phase is Phase.ROLLED_BACK, within=60)
    rel = release_of(env, name)
    assert "the rollback webhook kill answered 2xx" in " ".join(
        h.message for h in rel.status.history
    )
    assert env.split() == {"web-00001": 100}


# --- notifications --------------------------------------------------------------------


def test_event_hooks_get_every_event_in_order_and_post_rollout_the_outcome_once(
    env: Any, gates: Callable[..., HookGate]
) -> None:
    gate = gates(200)
    name = start_release(
        env, policy(hook(gate, "event", "log"), hook(gate, "post-rollout", "done"))
    )
    settle(env, lambda: release_of(env, name).status.phase is Phase.SUCCEEDED)
    rel = release_of(env, name)
    settle(env, lambda: gate.count("/done") == 1 and gate.count("/log") == len(rel.status.history))
    env.advance(120)
    assert [(b["reason"], b["message"]) for b in gate.bodies("/log")] == [
        (h.event, h.message) for h in rel.status.history
    ]
    assert [b["reason"] for b in gate.bodies("/done")] == ["Succeeded"]
    final = release_of(env, name).status.webhooks
    assert {w.name: w.delivered for w in final} == {"log": len(rel.status.history), "done": 1}


def test_a_failing_notification_is_given_up_on_and_never_holds_the_release(
    env: Any, gates: Callable[..., HookGate]
) -> None:
    gate = gates(500)
    name = start_release(env, policy(hook(gate, "event", "log", retries=0)))
    settle(env, lambda: release_of(env, name).status.phase is Phase.SUCCEEDED)
    settle(env, lambda: gate.count("/log") == len(release_of(env, name).status.history))
    assert "WebhookFailed" in env.events.reasons(name)


# --- signatures and secrets -------------------------------------------------------------


def test_signed_calls_verify_and_the_key_is_nowhere_in_the_release(
    env: Any, gates: Callable[..., HookGate], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "hmac-key-0123456789"
    monkeypatch.setenv("GATE_HMAC", key)
    gate = gates(200)
    signed = hook(gate, "confirm-promotion", "approve", secretRef={"env": "GATE_HMAC"})
    name = start_release(env, policy(signed))
    settle(env, lambda: release_of(env, name).status.phase is Phase.SUCCEEDED)
    assert gate.calls
    for call in gate.calls:
        assert transport.verify(call.raw, key.encode(), call.headers.get("x-rollout-signature"))
    assert key not in json.dumps(release_of(env, name).model_dump(mode="json"))
    assert all(key not in e.message for e in env.events.events)


def test_an_unreadable_key_is_a_failed_call_naming_its_source(
    env: Any, gates: Callable[..., HookGate], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    gate = gates(200)
    signed = hook(gate, "confirm-promotion", "approve", secretRef={"env": "NO_SUCH_KEY"})
    name = start_release(env, policy(signed))
    settle(env, lambda: release_of(env, name).status.pause_reason == "confirmation")
    settle(env, lambda: any(w.error for w in release_of(env, name).status.webhooks))
    assert gate.count() == 0  # never sent unsigned
    assert "NO_SUCH_KEY" in release_of(env, name).status.message


# --- one hanging hook holds up nobody else -------------------------------------------------


def test_a_hanging_hook_holds_up_no_other_release(env: Any, gates: Callable[..., HookGate]) -> None:
    slow, fast = gates(200, hang=30.0), gates(200)
    env.apply(policy(hook(slow, "confirm-promotion", "approve", timeout="10s", retries=0)))
    other = policy(hook(fast, "confirm-promotion", "approve"))
    other["metadata"]["name"] = "quick"
    env.apply(other)
    env.apply(env.service("a", policy="gated"))
    env.apply(env.service("b", policy="quick"))
    settle(env, lambda: env.split("a") and env.split("b"), within=30)
    env.apply(env.service("a", version="v2", policy="gated"))
    env.apply(env.service("b", version="v2", policy="quick"))
    settle(env, lambda: slow.count() >= 1, within=120, hanging=1)
    started = time.monotonic()
    settle(
        env,
        lambda: bool(env.releases("b")) and env.releases("b")[0].status.phase is Phase.SUCCEEDED,
        hanging=1,
    )
    assert time.monotonic() - started < 5.0  # b never waited for a's hanging gate
    assert env.releases("a")[0].status.phase is Phase.PAUSED


# --- notifications ------------------------------------------------------------------------


def notified(env: Any, gate: HookGate, monkeypatch: pytest.MonkeyPatch, **default: Any) -> Any:
    """`env` with a controller sending to `gate` (its URL in $SINK_URL), and with
    `default` as the controller's own notification when given."""
    from rollout.api import policyspec
    from rollout.controller import manager

    monkeypatch.setenv("SINK_URL", f"{gate.url}/sink")
    defaults = [policyspec.Notification.model_validate(default)] if default else []
    env.controller = manager.Controller(env.store, env.platform, env.clock, notifications=defaults)
    env.controller.cache.guard = True
    return env


def test_notifications_are_sent_once_per_moment_and_never_hold_the_release(
    env: Any, gates: Callable[..., HookGate], monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = gates(200)
    notified(env, sink, monkeypatch)
    data = policy(steps=[{"setWeight": 20}, {"pause": {}}])
    data["spec"]["notifications"] = [
        {"name": "chat", "sink": "slack", "urlFrom": {"env": "SINK_URL"}},
        {
            "name": "ops",
            "sink": "webhook",
            "urlFrom": {"env": "SINK_URL"},
            "triggers": ["Paused", "Succeeded"],
        },
    ]
    name = start_release(env, data)
    settle(env, lambda: release_of(env, name).status.pause_reason == "promotion")
    settle(env, lambda: sink.count("/sink") == 2)
    rel = release_of(env, name)
    env.write_spec(name, commands.promote(rel, full=False, now=env.clock.now(), by="alice"))
    settle(env, lambda: release_of(env, name).status.phase is Phase.SUCCEEDED)
    settle(
        env,
        lambda: all(len(n.sent) == 2 for n in release_of(env, name).status.notifications),
    )
    env.advance(300)
    bodies = sink.bodies("/sink")
    assert len(bodies) == 4
    assert sorted(b.get("trigger", "slack") for b in bodies) == [
        "Paused",
        "Succeeded",
        "slack",
        "slack",
    ]
    slack = [b for b in bodies if "blocks" in b]
    assert "paused: a human is needed" in slack[0]["text"]
    assert "rollout promote web" in str(slack[0]["blocks"])
    assert "promoted to 100%" in slack[1]["text"]
    sent = {n.name: n.sent for n in release_of(env, name).status.notifications}
    assert sent == {
        "chat": ["Paused/step 1/WaitingForPromotion", "Succeeded"],
        "ops": ["Paused/step 1/WaitingForPromotion", "Succeeded"],
    }


def test_the_controller_default_applies_to_policies_without_notifications(
    env: Any, gates: Callable[..., HookGate], monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = gates(200)
    notified(env, sink, monkeypatch, name="all", sink="teams", urlFrom={"env": "SINK_URL"})
    name = start_release(env, policy())
    settle(env, lambda: release_of(env, name).status.phase is Phase.SUCCEEDED)
    settle(env, lambda: sink.count("/sink") == 1)
    (body,) = sink.bodies("/sink")
    assert body["type"] == "message"
    assert "promoted to 100%" in str(body)


def test_a_failing_sink_is_an_event_and_a_metric_and_the_release_goes_on(
    env: Any, gates: Callable[..., HookGate], monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = gates(500)
    notified(
        env, sink, monkeypatch, name="all", sink="slack", urlFrom={"env": "SINK_URL"}, retries=0
    )
    name = start_release(env, policy())
    settle(env, lambda: release_of(env, name).status.phase is Phase.SUCCEEDED)
    settle(env, lambda: "NotificationFailed" in env.events.reasons(name))
    failed = env.controller.metrics.notifications_failed.labels("slack")._value.get()
    assert failed == 1
    (state,) = release_of(env, name).status.notifications
    assert (state.sent, state.failures) == (["Succeeded"], 1)
    assert sink.url not in state.last_error


def test_a_default_list_added_later_tells_nothing_about_finished_releases(
    env: Any, gates: Callable[..., HookGate], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Releases that ended before the controller had notifications are not told about
    (no storm of old outcomes when `--notifications` is first given)."""
    sink = gates(200)
    name = start_release(env, policy())
    settle(env, lambda: release_of(env, name).status.phase is Phase.SUCCEEDED)
    notified(env, sink, monkeypatch, name="all", sink="slack", urlFrom={"env": "SINK_URL"})
    env.controller.list_all()  # a restarted controller looks at every release again
    settle(env, lambda: calls_in_flight(env) == 0)
    env.advance(60)
    assert sink.count() == 0
    assert release_of(env, name).status.notifications == []
