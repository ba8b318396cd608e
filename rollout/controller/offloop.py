"""Calls off the reconcile: slow work for a release on worker threads, each within a
deadline, handed back to the reconciler that never waits for it.

A `Task` is one call for one release: a `name` (one in flight per release and name),
a `basis` (what it was asked for: a result is handed out only to a `take` asking with
the same basis), its own `timeout`, `run()` and `failed(reason)` (the result of a call
that did not complete). `Runner.take(key, tasks)` returns the finished results and
the names still in flight, starting those not in flight; `wake(key)` (the
controller's) is called when a result completes or its deadline passes.

- Starting a call puts it on a bounded set of worker threads (`threads`, started as
  needed; more calls than threads wait in line).
- Each call has a hard deadline: its `timeout` plus `grace`, from when it was asked
  for. Past it, the result is `failed("no complete answer within …")` ("no … thread
  free within …" if it never started).
- With a `lane_limit`, calls of one lane (`Task.lane`: an endpoint) take at most that
  many threads at once; the others wait in line behind them while calls of other lanes
  go ahead — so one hanging endpoint shared by many releases cannot take every thread.
- A thread still stuck past its deadline keeps only that name busy: its next call is
  at once `failed("the previous … is still running …")`, and its late result is
  dropped. It never holds a worker of the controller.
- A finished result is handed out once, to the next `take` that asks for its name with
  the same basis; one asked for under another basis, or no longer asked for, is
  dropped. `forget(key)` drops a release's calls when it ends.

Used by `measuring` (metric readings) and, through `Calls` (the same for items made
tasks in a namespace), by `hooking` (webhook calls) and `notifying` (notifications).
Threads: the workers and one watchdog for
deadlines, all daemons (a stuck call cannot keep the process alive); `close()` stops
the idle ones and the watchdog. Thread-safe.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import heapq
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, Protocol, TypeVar

import structlog

from rollout.reconcilers import base

__all__ = ["Calls", "Runner", "Task", "Words"]

log = structlog.get_logger(__name__)

R = TypeVar("R")
Item = TypeVar("Item")
R_co = TypeVar("R_co", covariant=True)
_IDLE = 30.0  # seconds an idle worker waits for work before it ends


class Task(Protocol[R_co]):
    @property
    def name(self) -> str: ...

    @property
    def basis(self) -> Hashable: ...

    @property
    def timeout(self) -> float: ...

    def run(self) -> R_co:
        """The call; whatever it raises is the task's business (`run` must not raise)."""
        ...

    def failed(self, reason: str) -> R_co:
        """The result of a call that did not complete, saying why."""
        ...

    @property
    def lane(self) -> str | None:
        """Calls of one lane (an endpoint) hold at most `lane_limit` threads at once;
        None: no lane."""
        ...


@dataclasses.dataclass(frozen=True)
class Words:
    """How the runner's own messages name what it runs (for the results and the log)."""

    call: str = "reading"  # "the previous reading of error-rate is still running"
    thread: str = "measurement"  # "no measurement thread free within 12s"
    late_event: str = "metric.reading_late"
    thread_name: str = "measure"


class _State(enum.Enum):
    QUEUED = "queued"  # waiting for a worker
    RUNNING = "running"  # a worker is in the call
    DONE = "done"  # a result is ready to be handed out
    STUCK = "stuck"  # handed out (failed at its deadline); the worker is still inside


@dataclasses.dataclass(eq=False)
class _Job(Generic[R]):
    key: base.Key
    task: Task[R]
    asked: float  # monotonic
    deadline: float  # monotonic
    state: _State = _State.QUEUED
    result: R | None = None
    busy: bool = False  # DONE at its deadline while a worker is still inside the call


class Runner(Generic[R]):
    """Calls on worker threads, each within a deadline (see the module docstring)."""

    def __init__(
        self,
        *,
        wake: Callable[[base.Key], None],
        threads: int,
        grace: float,
        words: Words = Words(),
        lane_limit: int | None = None,
    ) -> None:
        if threads < 1:
            raise ValueError("a runner needs at least one thread")
        self._lane_limit = lane_limit
        self._lanes: collections.Counter[str] = collections.Counter()  # running, by lane
        self._wake = wake
        self._max_threads = threads
        self._grace = grace
        self._words = words
        self._jobs: dict[base.Key, dict[str, _Job[R]]] = {}  # release → name → its job
        self._line: collections.deque[_Job[R]] = collections.deque()  # QUEUED, in order
        self._deadlines: list[tuple[float, int, _Job[R]]] = []  # a heap
        self._seq = 0
        self._workers: dict[threading.Thread, _Job[R] | None] = {}  # → the job it is in
        self._idle = 0
        self._watchdog: threading.Thread | None = None
        self._closed = False
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # a job in line, or closing
        self._timer = threading.Condition(self._lock)  # a new deadline, or closing

    # --- the reconciler's side ---------------------------------------------------------

    def take(self, key: base.Key, tasks: Sequence[Task[R]]) -> tuple[list[R], list[str]]:
        """The finished results of `tasks`, and the names still in flight (starting
        those not in flight); never waits."""
        results: list[R] = []
        pending: list[str] = []
        wanted = {t.name for t in tasks}
        with self._lock:
            jobs = self._jobs.get(key, {})
            for name in [n for n, j in jobs.items() if n not in wanted]:
                if jobs[name].state is _State.DONE and not jobs[name].busy:
                    self._drop(jobs[name])  # not asked for any more: its moment has passed
            for task in tasks:
                job = self._jobs.get(key, {}).get(task.name)
                if job is not None and job.state is _State.DONE:
                    fits = job.task.basis == task.basis
                    if fits and job.result is not None:
                        results.append(job.result)
                    if job.busy:  # its worker is still inside the call
                        job.state = _State.STUCK
                    else:
                        self._drop(job)
                        job = None
                    if fits:
                        continue
                if job is None:
                    self._start(key, task)
                    pending.append(task.name)
                elif job.state is _State.STUCK:
                    results.append(task.failed(self._stuck(job)))
                else:
                    pending.append(task.name)
        return results, pending

    def forget(self, key: base.Key) -> None:
        """Drop the calls of a release that ended (those in flight end unheard)."""
        with self._lock:
            for job in self._jobs.pop(key, {}).values():
                if job.state is _State.QUEUED:
                    self._line.remove(job)

    def in_flight(self) -> int:
        """Calls being made, waiting for a thread, or stuck past their deadline."""
        with self._lock:
            return sum(
                j.state is not _State.DONE or j.busy
                for jobs in self._jobs.values()
                for j in jobs.values()
            )

    def threads(self) -> int:
        """Worker threads alive (at most `threads`)."""
        with self._lock:
            return len(self._workers)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the watchdog and the idle workers; a worker stuck in a call is left to
        end on its own (a daemon). Threads start again if the runner is used again."""
        with self._lock:
            self._closed = True
            self._work.notify_all()
            self._timer.notify_all()
            threads = [t for t, job in self._workers.items() if job is None]
            if self._watchdog is not None:
                threads.append(self._watchdog)
                self._watchdog = None
        for thread in threads:
            thread.join(timeout)

    # --- starting and finishing ---------------------------------------------------------

    def _start(self, key: base.Key, task: Task[R]) -> None:
        """Put a call in line (under the lock), and make sure a thread will take it."""
        self._closed = False
        now = time.monotonic()
        job = _Job(key, task, asked=now, deadline=now + task.timeout + self._grace)
        self._jobs.setdefault(key, {})[task.name] = job
        self._line.append(job)
        self._seq += 1
        heapq.heappush(self._deadlines, (job.deadline, self._seq, job))
        if self._idle:
            self._work.notify_all()  # an idle worker takes it, if its lane allows
        if self._idle < len(self._line) and len(self._workers) < self._max_threads:
            thread = threading.Thread(
                target=self._work_loop, name=self._words.thread_name, daemon=True
            )
            self._workers[thread] = None
            thread.start()
        if self._watchdog is None:
            self._watchdog = threading.Thread(
                target=self._watch_loop, name=f"{self._words.thread_name}-deadlines", daemon=True
            )
            self._watchdog.start()
        else:
            self._timer.notify()

    def _current(self, job: _Job[R]) -> bool:
        """Whether `job` is its name's job (not forgotten, not replaced)."""
        return self._jobs.get(job.key, {}).get(job.task.name) is job

    def _drop(self, job: _Job[R]) -> None:
        jobs = self._jobs.get(job.key)
        if jobs is not None and jobs.get(job.task.name) is job:
            del jobs[job.task.name]
            if not jobs:
                del self._jobs[job.key]

    def _work_loop(self) -> None:
        me = threading.current_thread()
        while True:
            with self._lock:
                self._idle += 1
                self._work.wait_for(
                    lambda: self._next_job() is not None or self._closed, timeout=_IDLE
                )
                self._idle -= 1
                job = self._next_job()
                if job is None:  # idle too long, or closing
                    del self._workers[me]
                    return
                self._line.remove(job)
                job.state = _State.RUNNING
                self._workers[me] = job
                lane = job.task.lane
                if lane is not None:
                    self._lanes[lane] += 1
            result = job.task.run()
            self._finished(job, result)
            with self._lock:
                self._workers[me] = None
                if lane is not None:
                    self._lanes[lane] -= 1
                    if not self._lanes[lane]:
                        del self._lanes[lane]
                    self._work.notify_all()  # a call of this lane may go now

    def _next_job(self) -> _Job[R] | None:
        """The first call in line whose lane has a thread to spare (under the lock)."""
        for job in self._line:
            lane = job.task.lane
            if lane is None or self._lane_limit is None or self._lanes[lane] < self._lane_limit:
                return job
        return None

    def _finished(self, job: _Job[R], result: R) -> None:
        with self._lock:
            current = self._current(job)
            if job.state is not _State.RUNNING:  # its deadline passed first: that stands
                job.busy = False
                if job.state is _State.STUCK and current:
                    self._drop(job)  # the name is free again
                return
            job.state, job.result = _State.DONE, result
        if current:
            self._wake(job.key)

    def _watch_loop(self) -> None:
        me = threading.current_thread()
        while True:
            late: list[tuple[_Job[R], str]] = []
            with self._lock:
                if self._closed or self._watchdog is not me:
                    return
                now = time.monotonic()
                while self._deadlines and self._deadlines[0][0] <= now:
                    _, _, job = heapq.heappop(self._deadlines)
                    why = self._expire(job)
                    if why:
                        late.append((job, why))
                if not late:
                    wait = self._deadlines[0][0] - now if self._deadlines else _IDLE
                    self._timer.wait(min(wait, _IDLE))
            for job, why in late:
                log.warning(
                    self._words.late_event,
                    namespace=job.key.namespace,
                    release=job.key.name,
                    name=job.task.name,
                    why=why,
                )
                self._wake(job.key)

    def _expire(self, job: _Job[R]) -> str:
        """The deadline of `job` passed (under the lock): a failed result if it had none
        yet; says why ("" when it had one)."""
        if not self._current(job):
            return ""
        if job.state is _State.QUEUED:
            self._line.remove(job)
            job.state = _State.DONE
            job.result = job.task.failed(
                f"no {self._words.thread} thread free within {job.deadline - job.asked:g}s"
                f" ({self._max_threads} {self._words.call}s in progress)"
            )
            return "never started"
        if job.state is _State.RUNNING:
            job.state, job.busy = _State.DONE, True
            job.result = job.task.failed(f"no complete answer within {job.task.timeout:g}s")
            return "still running"
        return ""

    def _stuck(self, job: _Job[R]) -> str:
        running = round(time.monotonic() - job.asked)
        return (
            f"the previous {self._words.call} of {job.task.name} is still running"
            f" ({running}s, past its {job.task.timeout:g}s timeout)"
        )


class Calls(Generic[Item, R]):
    """An off-loop runner for one kind of call made for a release in a namespace (a
    webhook, a notification): `take(key, items, namespace)` makes each item a task
    (`make`) and hands back the results that are in, and the names still in flight."""

    def __init__(
        self,
        make: Callable[[Item, str], Task[R]],
        *,
        wake: Callable[[base.Key], None],
        threads: int,
        grace: float,
        words: Words,
        lane_limit: int | None = None,
    ) -> None:
        self._make = make
        self._runner: Runner[R] = Runner(
            wake=wake, threads=threads, grace=grace, words=words, lane_limit=lane_limit
        )

    def take(
        self, key: base.Key, items: Sequence[Item], namespace: str
    ) -> tuple[tuple[R, ...], tuple[str, ...]]:
        results, pending = self._runner.take(key, [self._make(i, namespace) for i in items])
        return tuple(results), tuple(pending)

    def forget(self, key: base.Key) -> None:
        """Drop the calls of a release that is gone (those in flight end unheard)."""
        self._runner.forget(key)

    def in_flight(self) -> int:
        return self._runner.in_flight()

    def close(self, timeout: float = 5.0) -> None:
        self._runner.close(timeout)
