"""Webhooks end to end on the local platform: the controller and the CLI as processes,
real revision processes behind the real proxy, load through it, and gate servers on
127.0.0.1 (`hookgate.HookGate`) that the controller calls over HTTP.

A denying confirm-promotion keeps the release at its last step (and `rollout promote`
is refused, naming the gate) until it says yes; a failing pre-rollout rolls back with
not one request sent to the canary; a rollout hook is called every interval; the
calls are signed with a key from the controller's environment, which appears nowhere
in status, events, logs or `-o json`.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hookgate import HookGate
from localenv import Load, Local

from rollout.analysis.providers import hooks as transport

KEY = "e2e-hmac-key-7f3a9c"

GATED = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata: {{name: gated}}
spec:
  steps:
    - setWeight: 30
    - analysis: {{duration: 6s}}
  analysis:
    interval: 2s
    failureLimit: 1
    inconclusiveLimit: 30
    metrics:
      - name: error-rate
        provider: {{local: {{stat: error_rate}}}}
        thresholds: {{max: 0.5}}
  webhooks:
{hooks}
"""


def hook(gate: HookGate, kind: str, name: str, extra: str = "") -> str:
    return (
        f"    - {{name: {name}, type: {kind}, url: '{gate.url}/{name}', timeout: 2s,"
        f" retries: 0, secretRef: {{env: GATE_KEY}}{extra}}}"
    )


@pytest.fixture
def local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Local]:
    monkeypatch.setenv("GATE_KEY", KEY)  # the controller process inherits it
    env = Local(tmp_path)
    try:
        yield env
    finally:
        env.cleanup()


def deploy_v1(local: Local, policy: str) -> None:
    local.start()
    local.apply(policy, "gated")
    local.service("gated", "v1")
    local.wait_serving()  # v1 deployed, and the proxy routes to it


def phase_is(local: Local, *phases: str) -> Callable[[], bool]:
    return lambda: (rel := local.read()[1]) is not None and rel.status.phase.value in phases


def test_a_confirm_promotion_gate_holds_until_it_says_yes_and_calls_are_signed(
    local: Local, gates: Callable[..., HookGate]
) -> None:
    gate, tests, log = gates(403), gates(200), gates(200)
    hooks = "\n".join(
        [
            hook(gate, "confirm-promotion", "approve"),
            hook(tests, "rollout", "load"),
            hook(log, "event", "log"),
        ]
    )
    deploy_v1(local, GATED.format(hooks=hooks))
    load = Load(local.url(), rps=20)
    local.service("gated", "v2")
    local.wait_for(
        lambda: (
            (rel := local.read()[1]) is not None
            and "waiting for confirm-promotion (last: HTTP 403" in rel.status.message
        ),
        within=90,
        what="release waiting for confirm-promotion",
    )
    refused = local.cli("promote", "web", check=False)
    assert refused.returncode == 1
    assert "waiting for confirm-promotion" in refused.stderr
    assert "--force" in refused.stderr
    status = local.cli("status", "web")
    assert "waiting for confirm-promotion (last: HTTP 403" in status.stdout
    gate.wait_for(lambda calls: sum(c.path == "/approve" for c in calls) >= 2, within=30)
    _, rel = local.read()
    assert rel is not None
    assert rel.status.phase.value == "Paused"

    gate.status = 200
    local.wait_for(phase_is(local, "Succeeded"), within=60, what="promoted once the gate said yes")
    result = load.stop()
    assert result.failed == 0, result.summary()

    assert tests.count("/load") >= 3  # every 2 s through the 6 s analysis step
    _, rel = local.read()
    assert rel is not None
    log.wait_for(
        lambda calls: (
            [c.body["reason"] for c in calls if c.path == "/log"]
            == [h.event for h in rel.status.history]
        ),
        within=30,
    )
    for call in [*gate.calls, *tests.calls, *log.calls]:
        assert transport.verify(call.raw, KEY.encode(), call.headers.get("x-rollout-signature"))
    shown = local.cli("get", "releases", "-o", "json").stdout
    logs = "".join(p.read_text(errors="replace") for p in (local.state_dir / "logs").glob("*"))
    for text in (shown, json.dumps(rel.model_dump(mode="json")), logs):
        assert KEY not in text


def test_a_failing_pre_rollout_rolls_back_with_no_request_sent_to_the_canary(
    local: Local, gates: Callable[..., HookGate]
) -> None:
    gate = gates(500)
    deploy_v1(local, GATED.format(hooks=hook(gate, "pre-rollout", "smoke")))
    load = Load(local.url(), rps=20)
    local.service("gated", "v2")
    local.wait_for(phase_is(local, "RolledBack"), within=90, what="rolled back by pre-rollout")
    time.sleep(1)  # load keeps flowing after the end
    result = load.stop()
    assert result.done > 20, result.summary()
    assert result.failed == 0, result.summary()
    assert result.by_revision.get("web-00002", 0) == 0
    assert gate.count("/smoke") == 2  # failureLimit 1: rolled back on the second failure
    _, rel = local.read()
    assert rel is not None
    assert "pre-rollout webhook smoke: 2 failed calls" in rel.status.message


def test_the_controller_environment_holds_the_key_not_the_policy(local: Local) -> None:
    """The policy names the variable; `get rpol -o json` shows the name, not the key."""
    gate = HookGate(200)
    try:
        local.start()
        local.apply(GATED.format(hooks=hook(gate, "confirm-promotion", "approve")), "gated")
        shown = local.cli("get", "rpol", "gated", "-o", "json").stdout
        assert "GATE_KEY" in shown
        assert KEY not in shown
        assert os.environ["GATE_KEY"] == KEY
    finally:
        gate.close()


NOTIFIED = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata: {name: notified}
spec:
  steps: [{setWeight: 30}, {pause: {}}]
  notifications:
    - {name: ops, sink: webhook, urlFrom: {env: SINK_URL}, secretRef: {env: GATE_KEY}}
    - {name: chat, sink: slack, urlFrom: {env: SINK_URL}}
"""


def test_one_notification_per_moment_across_a_controller_sigkill_and_restart(
    local: Local, gates: Callable[..., HookGate], monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = gates(200)
    monkeypatch.setenv("SINK_URL", f"{sink.url}/sink")
    local.start()
    local.apply(NOTIFIED, "notified")
    local.service("notified", "v1")
    local.wait_serving()  # v1 deployed, and the proxy routes to it
    local.service("notified", "v2")

    def recorded(count: int) -> Callable[[], bool]:
        def check() -> bool:
            _, rel = local.read()
            return (
                rel is not None
                and all(len(n.sent) == count for n in rel.status.notifications)
                and len(rel.status.notifications) == 2
            )

        return check

    local.wait_for(recorded(1), within=90, what="the Paused notifications recorded as sent")
    local.stop(signal.SIGKILL)
    local.start()
    local.wait_for(lambda: local.cli("status", "web", check=False).returncode in (0, 1), within=30,
                   what="the CLI answers")  # fmt: skip
    local.cli("promote", "web")
    local.wait_for(phase_is(local, "Succeeded"), within=60, what="promoted")
    local.wait_for(recorded(2), within=60, what="the Succeeded notifications recorded")
    sink.wait_for(lambda calls: len(calls) == 4, within=30)
    bodies = sink.bodies("/sink")
    assert sorted(b.get("trigger", "slack") for b in bodies) == [
        "Paused",
        "Succeeded",
        "slack",
        "slack",
    ]
    for call in sink.calls:
        if "trigger" in call.body:  # the webhook sink is signed
            assert transport.verify(call.raw, KEY.encode(), call.headers.get("x-rollout-signature"))


def test_failing_rollout_checks_roll_back_and_post_rollout_hears_it_once(
    local: Local, gates: Callable[..., HookGate]
) -> None:
    checks, told = gates(500), gates(200)
    hooks = "\n".join([hook(checks, "rollout", "smoke"), hook(told, "post-rollout", "done")])
    deploy_v1(local, GATED.format(hooks=hooks))
    local.service("gated", "v2")
    local.wait_for(phase_is(local, "RolledBack"), within=90, what="rolled back by the checks")
    told.wait_for(lambda calls: len(calls) == 1, within=30)
    assert checks.count("/smoke") == 2  # failureLimit 1: rolled back on the second failure
    (outcome,) = told.bodies("/done")
    assert (outcome["reason"], outcome["phase"]) == ("RolledBack", "RolledBack")
    assert "rollout webhook smoke: 2 failed calls" in outcome["message"]
    local.wait_for(
        lambda: (
            (rel := local.read()[1]) is not None
            and any(w.name == "done" and w.delivered == 1 for w in rel.status.webhooks)
        ),
        within=30,
        what="the outcome recorded as delivered",
    )


def test_a_rollback_hook_answering_2xx_rolls_back(
    local: Local, gates: Callable[..., HookGate]
) -> None:
    kill = gates(404)
    deploy_v1(local, GATED.format(hooks=hook(kill, "rollback", "kill")))
    local.service("gated", "v2")
    kill.wait_for(lambda calls: len(calls) >= 1, within=60)
    _, rel = local.read()
    assert rel is not None
    assert rel.status.phase.value in ("Progressing", "Paused")
    kill.status = 200
    local.wait_for(phase_is(local, "RolledBack"), within=30, what="rolled back by the hook")
    _, rel = local.read()
    assert rel is not None
    assert "the rollback webhook kill answered 2xx" in rel.status.message
