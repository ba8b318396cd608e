"""The work queue: de-duplication, due times, one worker per key, backoff, and a
threaded run where workers and a feeder race on a few keys."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Hashable
from datetime import UTC, datetime, timedelta

import pytest

from rollout.controller import queue

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def s(seconds: float) -> datetime:
    """The instant `seconds` after T0."""
    return T0 + timedelta(seconds=seconds)


def drain(q: queue.WorkQueue, now: datetime) -> list[Hashable]:
    """Pop every key due at `now`, marking each done."""
    popped = []
    while (key := q.pop(now)) is not None:
        popped.append(key)
        q.done(key)
    return popped


# --- de-duplication and due times ---------------------------------------------------


def test_due_of_says_when_a_handed_out_key_became_due() -> None:
    """The earliest add before the pop; an add while it is processed is the next one's."""
    q = queue.WorkQueue()
    q.add("a", s(5))
    q.add("a", s(3))
    assert q.pop(s(10)) == "a"
    assert q.due_of("a") == s(3)

    q.add("a", s(8))  # while processed
    q.done("a")
    assert q.due_of("a") is None
    assert q.pop(s(10)) == "a"
    assert q.due_of("a") == s(8)
    q.done("a")
    assert q.due_of("a") is None


def test_a_key_added_many_times_is_popped_once() -> None:
    """Ten adds of one key are one pop."""
    q = queue.WorkQueue()
    for _ in range(10):
        q.add("a", T0)
    assert len(q) == 1
    assert drain(q, T0) == ["a"]
    assert len(q) == 0


@pytest.mark.parametrize(
    ("adds", "due"),
    [
        pytest.param([10, 5], 5, id="later-add-earlier-wins"),
        pytest.param([5, 10], 5, id="later-add-later-ignored"),
        pytest.param([7, 3, 9, 4], 3, id="earliest-of-many"),
    ],
)
def test_the_earlier_due_time_wins(adds: list[float], due: float) -> None:
    """A key waiting at two times is due at the earlier one, and popped once."""
    q = queue.WorkQueue()
    for at in adds:
        q.add("a", s(at))
    assert q.next_due() == s(due)
    assert q.pop(s(due) - timedelta(microseconds=1)) is None
    assert drain(q, s(max(adds))) == ["a"]


def test_nothing_is_popped_before_it_is_due() -> None:
    """A key due at +10 s is not handed out at +0 or +9.999 s, and is at +10 s."""
    q = queue.WorkQueue()
    q.add("a", s(10))
    assert q.pop(T0) is None
    assert q.pop(s(9.999)) is None
    assert q.pop(s(10)) == "a"


def test_keys_come_out_in_due_order_then_insertion_order() -> None:
    """Due keys are popped earliest first; ties in the order they were added."""
    q = queue.WorkQueue()
    q.add("late", s(3))
    q.add("first", s(1))
    q.add("tie-1", s(2))
    q.add("tie-2", s(2))
    assert drain(q, s(5)) == ["first", "tie-1", "tie-2", "late"]


# --- one worker per key -------------------------------------------------------------


def test_a_key_added_while_processing_comes_back_only_after_done() -> None:
    """An add during processing is held until `done`, then handed out again."""
    q = queue.WorkQueue()
    q.add("a", T0)
    assert q.pop(T0) == "a"
    q.add("a", T0)
    assert len(q) == 1  # counted as waiting
    assert q.pop(s(100)) is None  # still being processed: nobody else gets it
    q.done("a")
    assert q.pop(T0) == "a"


def test_a_key_is_never_handed_to_two_workers_at_once() -> None:
    """While one worker holds a key, other keys flow but that key does not."""
    q = queue.WorkQueue()
    q.add("a", T0)
    q.add("b", T0)
    assert q.pop(T0) == "a"
    q.add("a", T0)
    assert q.pop(T0) == "b"
    assert q.pop(T0) is None


def test_adds_while_processing_keep_the_earliest_time() -> None:
    """Two adds during processing: after `done` the key is due at the earlier one."""
    q = queue.WorkQueue()
    q.add("a", T0)
    assert q.pop(T0) == "a"
    q.add("a", s(30))
    q.add("a", s(10))
    q.done("a")
    assert q.next_due() == s(10)
    assert q.pop(s(9)) is None
    assert q.pop(s(10)) == "a"


def test_done_without_a_new_add_leaves_nothing_waiting() -> None:
    """A processed key not added again is gone."""
    q = queue.WorkQueue()
    q.add("a", T0)
    assert q.pop(T0) == "a"
    q.done("a")
    assert len(q) == 0
    assert q.next_due() is None
    assert q.pop(s(1000)) is None


# --- backoff ------------------------------------------------------------------------


def test_backoff_doubles_from_100ms_and_caps_at_60s() -> None:
    """Consecutive failures wait 0.1, 0.2, 0.4 … seconds, never more than 60."""
    q = queue.WorkQueue()
    delays = []
    for _ in range(14):
        delay = q.failed("a", T0)
        delays.append(delay.total_seconds())
        assert q.next_due() == T0 + delay
        assert q.pop(T0 + delay) == "a"
        q.done("a")
    assert delays[:5] == [0.1, 0.2, 0.4, 0.8, 1.6]
    assert delays[9] == pytest.approx(51.2)
    assert delays[10:] == [60.0] * 4
    assert q.failures("a") == 14


def test_failed_requeues_the_key_after_the_delay() -> None:
    """A failed key is not due before its backoff is over."""
    q = queue.WorkQueue()
    delay = q.failed("a", s(5))
    assert q.pop(s(5)) is None
    assert q.pop(s(5) + delay) == "a"


def test_forget_resets_the_backoff() -> None:
    """After `forget`, the next failure waits the base delay again."""
    q = queue.WorkQueue()
    for _ in range(4):
        q.failed("a", T0)
    q.forget("a")
    assert q.failures("a") == 0
    assert q.failed("a", T0) == queue.BACKOFF_BASE


def test_failures_are_counted_per_key() -> None:
    """One key's failures do not lengthen another's backoff."""
    q = queue.WorkQueue()
    for _ in range(3):
        q.failed("a", T0)
    assert q.failures("b") == 0
    assert q.failed("b", T0) == queue.BACKOFF_BASE


# --- next_due -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("adds", "popped", "expected"),
    [
        pytest.param([], 0, None, id="empty"),
        pytest.param([("a", 5), ("b", 2)], 0, 2, id="earliest-key"),
        pytest.param([("a", 5), ("a", 1)], 0, 1, id="superseded-entry-ignored"),
        pytest.param([("a", 1), ("b", 4)], 1, 4, id="after-a-pop"),
        pytest.param([("a", 1)], 1, None, id="only-key-popped"),
    ],
)
def test_next_due(adds: list[tuple[str, float]], popped: int, expected: float | None) -> None:
    """When the next waiting key is due (None when nothing waits)."""
    q = queue.WorkQueue()
    for key, at in adds:
        q.add(key, s(at))
    for _ in range(popped):
        assert q.pop(s(100)) is not None
    assert q.next_due() == (None if expected is None else s(expected))


# --- threads ------------------------------------------------------------------------


def test_concurrent_workers_never_process_one_key_at_the_same_time() -> None:
    """Workers racing a feeder on a few keys: no key is held twice, nothing is lost.

    A worker holding a key adds it again (an event arriving during its reconcile) and
    keeps it until another worker has tried a pop, so a queue that handed the key out
    again would be caught in the act."""
    q = queue.WorkQueue()
    keys = [f"k{i}" for i in range(5)]
    workers, adds, rounds = 6, 500, 20
    start = threading.Barrier(workers + 1)
    fed = threading.Event()
    attempted = threading.Condition()
    attempts = 0
    lock = threading.Lock()
    in_flight: set[Hashable] = set()
    overlaps: list[Hashable] = []
    processed: Counter[Hashable] = Counter()
    deadline = time.monotonic() + 5

    def feed() -> None:
        start.wait()
        for i in range(adds):
            q.add(keys[i % len(keys)], T0)
        fed.set()
        with q.changed:
            q.changed.notify_all()

    def pop() -> Hashable | None:
        nonlocal attempts
        key = q.pop(T0)
        with attempted:
            attempts += 1
            attempted.notify_all()
        return key

    def work() -> None:
        start.wait()
        while time.monotonic() < deadline:
            key = pop()
            if key is None:
                if fed.is_set() and len(q) == 0:
                    return
                with q.changed:
                    q.changed.wait(0.01)
                continue
            with lock:
                if key in in_flight:
                    overlaps.append(key)
                in_flight.add(key)
                processed[key] += 1
                again = processed[key] % rounds != 0
            if again:
                with attempted:
                    seen = attempts
                q.add(key, T0)

                def another_pop(seen: int = seen) -> bool:
                    return attempts > seen

                with attempted:
                    attempted.wait_for(another_pop, timeout=0.05)
            with lock:
                in_flight.discard(key)
            q.done(key)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    threads.append(threading.Thread(target=feed))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(deadline - time.monotonic(), 0) + 1)
    assert not any(t.is_alive() for t in threads), "workers did not finish before the deadline"
    assert overlaps == []
    assert set(processed) == set(keys)
    assert len(q) == 0
    assert q.next_due() is None
