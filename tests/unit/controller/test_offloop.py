"""The off-loop runner is not tied to metric readings: any task with a name, a basis,
a timeout, `run` and `failed` is run off the reconcile within its deadline, and the
runner's own messages use the words it is given (what the webhook calls will use)."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable

from rollout.controller import offloop
from rollout.reconcilers import base

KEY = base.Key("Release", "default", "web-00002")
WAIT = 10.0


@dataclasses.dataclass(frozen=True)
class Call:
    name: str
    basis: str
    timeout: float
    answer: Callable[[], str]
    lane: str | None = None

    def run(self) -> str:
        return self.answer()

    def failed(self, reason: str) -> str:
        return f"failed: {reason}"


def until(predicate: Callable[[], bool], what: str) -> None:
    ends = time.monotonic() + WAIT
    while not predicate():
        assert time.monotonic() < ends, f"not within {WAIT}s: {what}"
        time.sleep(0.01)


def test_a_task_runs_off_the_caller_and_its_result_is_handed_out_once() -> None:
    woken: list[base.Key] = []
    runner: offloop.Runner[str] = offloop.Runner(wake=woken.append, threads=2, grace=0.2)
    try:
        call = Call("gate", "step-1", 1.0, lambda: "200")
        assert runner.take(KEY, [call]) == ([], ["gate"])
        until(lambda: woken == [KEY], "the wake")
        assert runner.take(KEY, [call]) == (["200"], [])
        assert runner.take(KEY, [call]) == ([], ["gate"])  # a new call: the last was handed out
    finally:
        runner.close()


def test_a_result_for_another_basis_is_not_handed_out() -> None:
    woken: list[base.Key] = []
    runner: offloop.Runner[str] = offloop.Runner(wake=woken.append, threads=1, grace=0.2)
    try:
        runner.take(KEY, [Call("gate", "step-1", 1.0, lambda: "200 for step 1")])
        until(lambda: woken, "the wake")
        results, pending = runner.take(KEY, [Call("gate", "step-2", 1.0, lambda: "200")])
        assert (results, pending) == ([], ["gate"])
    finally:
        runner.close()


def test_a_hanging_task_fails_at_its_deadline_in_the_runners_words() -> None:
    release = threading.Event()
    woken: list[base.Key] = []
    words = offloop.Words(call="call", thread="webhook", late_event="hook.late", thread_name="hook")
    runner: offloop.Runner[str] = offloop.Runner(
        wake=woken.append, threads=1, grace=0.1, words=words
    )
    try:
        hanging = Call("gate", "step-1", 0.2, lambda: "late" if release.wait(WAIT) else "never")
        runner.take(KEY, [hanging])
        assert any(t.name == "hook" for t in threading.enumerate())
        until(lambda: woken, "the deadline's wake")
        results, _ = runner.take(KEY, [hanging])
        assert results == ["failed: no complete answer within 0.2s"]
        results, _ = runner.take(KEY, [hanging])  # its worker is still inside
        assert len(results) == 1
        assert results[0].startswith("failed: the previous call of gate is still running")
    finally:
        release.set()
        runner.close()


def test_one_lane_takes_at_most_its_limit_of_threads_and_other_lanes_go_ahead() -> None:
    """Two calls to a hanging endpoint (lane `slow`, limit 1) and one to another: the
    other is answered while the slow lane's second call waits in line."""
    woken: list[base.Key] = []
    release = threading.Event()
    runner: offloop.Runner[str] = offloop.Runner(
        wake=woken.append, threads=4, grace=0.2, lane_limit=1
    )
    keys = [base.Key("Release", "default", f"r{i}") for i in range(3)]
    try:
        hanging = lambda: "late" if release.wait(WAIT) else "never"  # noqa: E731
        runner.take(keys[0], [Call("gate", "b", 5.0, hanging, lane="slow")])
        runner.take(keys[1], [Call("gate", "b", 5.0, lambda: "second", lane="slow")])
        runner.take(keys[2], [Call("gate", "b", 5.0, lambda: "quick", lane="fast")])
        until(lambda: keys[2] in woken, "the other lane's answer")
        assert runner.take(keys[2], [Call("gate", "b", 5.0, lambda: "x", lane="fast")]) == (
            ["quick"],
            [],
        )
        assert keys[1] not in woken  # still in line behind the hanging call
        release.set()
        until(lambda: keys[1] in woken, "the second slow call, once the first ended")
        assert runner.take(keys[1], [Call("gate", "b", 5.0, lambda: "x", lane="slow")]) == (
            ["second"],
            [],
        )
    finally:
        release.set()
        runner.close()
