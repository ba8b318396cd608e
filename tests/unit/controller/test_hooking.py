"""The webhook runner (`controller.hooking`) against real gate servers on 127.0.0.1: a
call is made off the caller and handed back once, signed with the key read when it is
made, within the transport's bound plus the grace; an unreadable key or a hanging
endpoint is a failed answer that names the cause — never the URL or the key."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hookgate import HookGate

from rollout.analysis.providers import hooks as transport
from rollout.api import policyspec
from rollout.controller import hooking
from rollout.reconcilers import base
from rollout.release import hooks

KEY = base.Key("Release", "default", "web-00002")
WAIT = 15.0
T0 = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def runner() -> Iterator[tuple[hooking.Runner, threading.Event]]:
    woken = threading.Event()
    made = hooking.Runner(wake=lambda key: woken.set(), threads=2, grace=0.3)
    yield made, woken
    made.close()


def call(url: str, **fields: object) -> hooks.Call:
    hook = policyspec.Webhook.model_validate(
        {"name": "approve", "type": "confirm-promotion", "url": url, "timeout": "1s"} | fields
    )
    return hooks.Call(hook, "step 2", {"release": "web-00002", "timestamp": T0})


def answer_of(runner: hooking.Runner, woken: threading.Event, c: hooks.Call) -> object:
    answers, pending = runner.take(KEY, [c], "default")
    assert (answers, pending) == ((), ("approve",))
    assert woken.wait(WAIT), "the runner never woke the release"
    answers, pending = runner.take(KEY, [c], "default")
    assert pending == ()
    (answer,) = answers
    return answer


def test_a_call_is_made_off_the_caller_and_its_answer_handed_back(
    runner: tuple[hooking.Runner, threading.Event], gates: Callable[..., HookGate]
) -> None:
    made, woken = runner
    gate = gates(403)
    answer = answer_of(made, woken, call(f"{gate.url}/approve"))
    assert (answer.name, answer.basis, answer.ok, answer.status) == (
        "approve",
        "step 2",
        False,
        403,
    )
    assert gate.bodies("/approve") == [
        {"release": "web-00002", "timestamp": "2025-01-01T00:00:00Z"}
    ]


def test_the_key_is_read_when_the_call_is_made_and_signs_it(
    runner: tuple[hooking.Runner, threading.Event],
    gates: Callable[..., HookGate],
    tmp_path: Path,
) -> None:
    made, woken = runner
    gate = gates(200)
    key_file = tmp_path / "key"
    key_file.write_text("file-key\n")
    answer = answer_of(made, woken, call(gate.url, secretRef={"file": str(key_file)}))
    assert answer.ok
    (seen,) = gate.calls
    assert transport.verify(seen.raw, b"file-key", seen.headers["x-rollout-signature"])


def test_an_unreadable_key_is_a_failed_call_that_sends_nothing(
    runner: tuple[hooking.Runner, threading.Event],
    gates: Callable[..., HookGate],
    tmp_path: Path,
) -> None:
    made, woken = runner
    gate = gates(200)
    missing = tmp_path / "no-such-key"
    answer = answer_of(made, woken, call(gate.url, secretRef={"file": str(missing)}))
    assert not answer.ok
    assert answer.error.startswith("the webhook's secretRef: ")
    assert str(missing) in answer.error
    assert gate.calls == []


def test_a_secret_key_ref_without_a_secret_reader_says_so(
    runner: tuple[hooking.Runner, threading.Event], gates: Callable[..., HookGate]
) -> None:
    made, woken = runner
    gate = gates(200)
    ref = {"secretKeyRef": {"name": "gate-hmac", "key": "key"}}
    answer = answer_of(made, woken, call(gate.url, secretRef=ref))
    assert not answer.ok
    assert "secretKeyRef needs the kubernetes platform" in answer.error
    assert gate.calls == []


def test_a_hanging_endpoint_ends_within_its_bound_and_names_no_url(
    runner: tuple[hooking.Runner, threading.Event], gates: Callable[..., HookGate]
) -> None:
    made, woken = runner
    gate = gates(200, hang=30.0)
    c = call(f"{gate.url}/secret-path-token", retries=1)
    started = time.monotonic()
    answer = answer_of(made, woken, c)
    took = time.monotonic() - started
    bound = hooking.deadline_of(c)
    assert bound == pytest.approx(1.0 * 2 + transport.backoff(0))
    assert took < bound + 0.3 + 1.0
    assert not answer.ok
    assert "secret-path-token" not in (answer.error or "")
    assert str(gate.url) not in (answer.error or "")


def test_the_deadline_covers_every_attempt_and_backoff() -> None:
    c = call("http://127.0.0.1:9/", timeout="2s", retries=3)
    assert hooking.deadline_of(c) == pytest.approx(2.0 * 4 + 0.5 + 1.0 + 2.0)


def test_a_release_forgotten_drops_its_calls(
    runner: tuple[hooking.Runner, threading.Event], gates: Callable[..., HookGate]
) -> None:
    made, _ = runner
    gate = gates(200)
    made.take(KEY, [call(gate.url)], "default")
    made.forget(KEY)
    assert made.in_flight() == 0
    answers, pending = made.take(KEY, [call(gate.url)], "default")
    assert answers == ()  # a new call, not the forgotten one's answer
    assert pending == ("approve",)


def test_calls_to_one_endpoint_share_a_lane() -> None:
    assert hooking.endpoint_of("https://gate.example/a?x=1") == hooking.endpoint_of(
        "https://gate.example/b"
    )
    assert hooking.endpoint_of("https://gate.example:8443/a") != hooking.endpoint_of(
        "https://gate.example/a"
    )
    assert hooking.endpoint_of("http://user:pw@gate.example/a") == "http://gate.example:"
