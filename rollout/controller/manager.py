"""The controller: watches the store, queues keys, runs reconcilers.

- Watch: for each kind, list once (enqueue everything), then watch from the list's
  resourceVersion; each event updates the read cache (`cache.CachedStore`, unless
  `read_cache=False`) and then enqueues the keys `wiring.Index` maps it to. A watch
  that expired lists again. Reconcilers read from the cache and write to the store.
- A write is no news to its writer: the event of an object a reconcile wrote does not
  queue the key that wrote it (a Service that created a Revision is not woken by that
  Revision's creation; it is by the Revision's later changes). The event of a write
  that arrives before the write returned to its writer still does (harmless).
- Queue: `queue.WorkQueue` (de-duplicated, delayed by `requeue_after`, backoff on
  errors). A `Conflict` is retried at once (re-read, reconcile again); other errors
  back off exponentially and leave the resource's own status to say what is wrong —
  the controller never stops on one bad object.
- An object the store holds that does not decode (`port.InvalidObject`) stops
  nothing: lists return it apart and it is queued like the others; the reconcile of
  its key, reading it, raises `errors.Undecodable`, and the controller marks it
  (`invalid`: `Ready=False, reason=InvalidSpec` once per generation, an Event, the
  `rollout_invalid_objects` gauge) instead of retrying — its next change queues it
  again. RolloutPolicy, which no reconciler of its own needs, is queued for that
  alone (`_check_policy`).
- Two ways to run: `run(stop)` with watcher and worker threads (waits converted from
  clock time to real time, so `--speed 30` runs 30× faster), and `run_until_idle()`
  synchronously, for scenario tests with a fake clock.
- Measurements (`measuring`): on a platform whose metrics may block (local,
  kubernetes) readings are taken on the runner's own threads, each within a deadline,
  and a finished one wakes its release — a reconcile never waits for a provider;
  on sim and memory they are taken inline. `run` stops the runner's idle threads when
  it returns (`close()` does for a controller driven by `run_until_idle`).

Called by `rollout controller` and the scenario tests.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import structlog

from rollout import clock as clocks
from rollout.api import condition, kinds, policyspec, release
from rollout.controller import (
    cache,
    collector,
    hooking,
    invalid,
    measuring,
    metrics,
    notifying,
    queue,
    wiring,
)
from rollout.platforms import ports
from rollout.reconcilers import base
from rollout.reconcilers import release as release_reconciler
from rollout.reconcilers import revision as revision_reconciler
from rollout.reconcilers import route as route_reconciler
from rollout.reconcilers.service import reconcile as service_reconciler
from rollout.store import errors, port

__all__ = ["GC_THRESHOLDS", "KINDS", "Controller"]

log = structlog.get_logger(__name__)


def _check_policy(ctx: base.Context, key: base.Key) -> base.Result:
    """A RolloutPolicy has no reconciler: the Services that name it read it. Its key is
    reconciled only to read it, so that one that does not decode is marked."""
    with contextlib.suppress(errors.NotFound):
        base.read(ctx, key.kind, key.namespace, key.name)
    return base.Result()


RECONCILERS: Mapping[str, base.Reconcile] = {
    "Service": service_reconciler.reconcile,
    "Revision": revision_reconciler.reconcile,
    "Route": route_reconciler.reconcile,
    "Release": release_reconciler.reconcile,
    "RolloutPolicy": _check_policy,
}
KINDS = tuple(RECONCILERS)
_MAX_WAIT = 1.0  # real seconds a worker or watcher waits before looking again
GC_THRESHOLDS = collector.THRESHOLDS  # the collector's settings: `collector`


class Controller:
    def __init__(
        self,
        store: port.Store,
        platform: ports.Platform,
        clock: clocks.Clock,
        *,
        workers: int = 4,
        read_cache: bool = True,
        notifications: Sequence[policyspec.Notification] = (),
    ) -> None:
        self.store = store  # lists and watches: what feeds the cache
        self.cache = cache.CachedStore(store) if read_cache else None
        self.measurements: measuring.Runner | measuring.Inline = (
            measuring.Runner(platform.metrics, wake=self.wake)
            if platform.metrics_may_block
            else measuring.Inline(platform.metrics)
        )
        self.metrics = metrics.ControllerMetrics()
        self.invalid = invalid.Seen(
            lambda kind, count: self.metrics.invalid_objects.labels(kind).set(count)
        )
        self.hooks = hooking.Runner(wake=self.wake, secrets=platform.secrets)
        self.notices = notifying.Runner(
            wake=self.wake,
            secrets=platform.secrets,
            failed=lambda sink: self.metrics.notifications_failed.labels(sink).inc(),
        )
        self.ctx = base.Context(
            store=self.cache or store,
            platform=platform,
            clock=clock,
            measurements=self.measurements,
            hooks=self.hooks,
            notices=self.notices,
            notifications=tuple(notifications),
            on_release=self._on_release,
            cache=self.cache,
            on_write=self._on_write,
        )
        self.clock = clock
        self.queue = queue.WorkQueue()
        self.index = wiring.Index()
        self.workers = workers
        self._since: dict[str, str] = {}
        self._reconciling = threading.local()  # .key: what this worker reconciles
        self._writers: dict[tuple[tuple[str, str, str], str], base.Key] = {}  # by write
        self._writers_lock = threading.Lock()

    # --- watching ---------------------------------------------------------------------

    def list_all(self) -> None:
        """List every kind, index it, and enqueue every object (a full resync)."""
        for kind in KINDS:
            self._relist(kind)

    def _relist(self, kind: str) -> None:
        listed = self.store.list(kind)
        with self._writers_lock:  # the events of writes before the list are gone
            for write in [w for w in self._writers if w[0][0] == kind]:
                del self._writers[write]
        if self.cache is not None:
            self.cache.replace(kind, listed)
        now = self.clock.now()
        for obj in listed.items:
            event = port.WatchEvent(port.EventType.ADDED, obj, listed.resource_version)
            self._enqueue(self.index.keys_for(event), now)
        for bad in listed.invalid:
            self._enqueue(self.index.keys_for_invalid(bad), now)
        self._since[kind] = listed.resource_version

    def pump(self, kind: str, timeout: float) -> int:
        """Take the watch events of `kind` that are there (or wait up to `timeout`)."""
        try:
            events = list(self.store.watch(kind, since=self._since[kind], timeout=timeout))
        except errors.Expired:
            log.warning("watch expired; listing again", kind=kind)
            self._relist(kind)
            return 0
        now = self.clock.now()
        for event in events:
            if self.cache is not None:
                event = self.cache.observe(event)  # with the object the cache holds
            keys = self.index.keys_for(event)
            with self._writers_lock:
                writer = self._writers.pop((event.key, event.resource_version), None)
            self._enqueue([k for k in keys if k != writer], now)
            self._since[kind] = event.resource_version
        return len(events)

    def _on_write(self, written: kinds.Resource) -> None:
        """Remember which key's reconcile wrote `written`, for its event."""
        writer = getattr(self._reconciling, "key", None)
        rv = written.metadata.resource_version
        if writer is not None and rv is not None:
            with self._writers_lock:
                self._writers[(port.key_of(written), rv)] = writer

    def _enqueue(self, keys: list[base.Key], at: datetime) -> None:
        for key in keys:
            if key.kind in RECONCILERS:
                self.queue.add(key, at)

    def wake(self, key: base.Key) -> None:
        """Reconcile `key` now: for platforms that learn of a change first (a crash)."""
        self._enqueue([key], self.clock.now())

    # --- reconciling ------------------------------------------------------------------

    def process(self, key: base.Key) -> None:
        """Reconcile one key (owned by the caller after `queue.pop`) and requeue it."""
        now = self.clock.now()
        due = self.queue.due_of(key) or now
        of_kind = self.metrics.of_kind(key.kind)
        of_kind.lateness.observe(max((now - due).total_seconds(), 0.0))
        started = time.perf_counter()
        self._reconciling.key = key
        bad = False  # the object of `key` does not decode
        try:
            try:
                result = RECONCILERS[key.kind](self.ctx, key)
            except errors.Undecodable as exc:
                if exc.object.key != (key.kind, key.namespace, key.name):
                    raise  # another object it reads: this one's failure
                bad = True
                invalid.record(self.ctx, self.invalid, key, exc.object)
                result = base.Result()  # its next change queues it again
        except errors.Conflict:
            self.queue.done(key)
            self.queue.add(key, self.clock.now())
            self.metrics.errors.labels(key.kind, "Conflict").inc()
            return
        except Exception as exc:  # one bad object must not stop the controller
            if not bad:
                self.invalid.discard(key)
            self._failed(key, exc)
            return
        finally:
            self._reconciling.key = None
            of_kind.reconciles.inc()
            of_kind.duration.observe(time.perf_counter() - started)
        if not bad:
            self.invalid.discard(key)
        self.queue.forget(key)
        self.queue.done(key)
        if result.requeue_after is not None:
            at = self.clock.now() + max(result.requeue_after, timedelta(0))
            self.queue.add(key, at)
        self.metrics.queue_depth.set(len(self.queue))

    def _failed(self, key: base.Key, exc: Exception) -> None:
        """The reconcile of `key` raised: back off, say so in the log and on the object."""
        self.queue.done(key)
        delay = self.queue.failed(key, self.clock.now())
        self.metrics.errors.labels(key.kind, type(exc).__name__).inc()
        log.warning(
            "reconcile failed",
            kind=key.kind,
            namespace=key.namespace,
            name=key.name,
            error=str(exc),
            retry_in=delay.total_seconds(),
        )
        self._mark_failed(key, exc)

    def _on_release(
        self, key: base.Key, status: release.ReleaseStatus, verdicts: tuple[release.Verdict, ...]
    ) -> None:
        weight = status.weights.canary if status.weights else 0
        self.metrics.release_decided(key.namespace, key.name, status.phase, weight, verdicts)

    def _mark_failed(self, key: base.Key, exc: Exception) -> None:
        """Say on the object itself why its reconcile failed (best effort)."""
        try:
            obj = self.ctx.store.get(key.kind, key.namespace, key.name)
            status = getattr(obj, "status", None)
            if status is None:
                return
            conditions = condition.set_condition(
                status.conditions,
                type_=base.ERROR_CONDITION,
                status=condition.ConditionStatus.TRUE,
                reason=type(exc).__name__,
                message=str(exc)[:1000],
                now=self.clock.now(),
                observed_generation=obj.metadata.generation,
            )
            if conditions != status.conditions:
                new = status.model_copy(update={"conditions": conditions})
                self.ctx.store.update_status(obj.model_copy(update={"status": new}))
        except Exception as again:  # the store itself is failing: the log has it
            log.warning("could not record the failure", key=str(key), error=str(again))

    # --- synchronous (scenario tests) -------------------------------------------------

    def run_until_idle(self, *, limit: int = 10_000) -> int:
        """Process every key due now and every event that causes, until nothing is due."""
        if not self._since:
            self.list_all()
        processed = 0
        while processed < limit:
            for kind in KINDS:
                self.pump(kind, 0)
            key = self.queue.pop(self.clock.now())
            if key is None:
                return processed
            assert isinstance(key, base.Key)
            self.process(key)
            processed += 1
        raise RuntimeError(f"not idle after {limit} reconciles: a reconcile loop?")

    def next_due(self) -> datetime | None:
        return self.queue.next_due()

    # --- threaded (rollout controller) ------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Watch and reconcile until `stop` is set; returns when every thread ended.

        Nothing is reconciled before every kind has been listed once (an API server that
        fails the first lists is asked again every second). While it runs, Python's
        garbage collector runs seldom and skips the long-lived heap (`collector`,
        undone on return)."""
        try:
            with collector.running() as freezer:
                self._run(stop, freezer)
        finally:
            self.close()

    def close(self) -> None:
        """Stop the measurement and webhook runners' idle threads (`run` does so when it
        returns)."""
        self.measurements.close()
        self.hooks.close()
        self.notices.close()

    def _run(self, stop: threading.Event, freezer: collector.Freezer) -> None:
        while not stop.is_set():
            try:
                self.list_all()
                break
            except Exception as exc:  # the store is away or failing: look again
                log.warning("listing failed; trying again", error=str(exc))
                stop.wait(1.0)
        if stop.is_set():
            return
        threads = [
            threading.Thread(target=self._watch_loop, args=(kind, stop), name=f"watch-{kind}")
            for kind in KINDS
        ] + [
            threading.Thread(target=self._work_loop, args=(stop, freezer), name=f"worker-{i}")
            for i in range(self.workers)
        ]
        for thread in threads:
            thread.start()
        log.info("controller started", platform=self.ctx.platform.name, workers=self.workers)
        stop.wait()
        with self.queue.changed:
            self.queue.changed.notify_all()
        for thread in threads:
            thread.join()
        log.info("controller stopped")

    def _watch_loop(self, kind: str, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.pump(kind, _MAX_WAIT)
            except Exception as exc:  # a store hiccup: look again shortly
                log.warning("watch failed", kind=kind, error=str(exc))
                stop.wait(_MAX_WAIT)

    def _work_loop(self, stop: threading.Event, freezer: collector.Freezer) -> None:
        while not stop.is_set():
            freezer.tick()
            key = self.queue.pop(self.clock.now())
            if key is None:
                due = self.queue.next_due()
                wait = _MAX_WAIT
                if due is not None:
                    wait = min(wait, self.clock.real_seconds(due - self.clock.now()))
                with self.queue.changed:
                    self.queue.changed.wait(max(wait, 0.001))
                continue
            assert isinstance(key, base.Key)
            self.process(key)
