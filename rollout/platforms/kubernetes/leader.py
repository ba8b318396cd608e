"""Leader election with a `coordination.k8s.io/v1` Lease: one controller replica works,
the others wait.

The rules are client-go's, with its defaults (lease 15 s, renew deadline 10 s,
retry 2 s):

- A candidate reads the Lease every `retry` seconds. It takes it when there is none,
  when it already holds it, or when the holder has not renewed it for a whole lease
  duration. "Not renewed" is judged by the candidate's own clock, from when it last
  saw the record change, less one retry period (the change may have happened that
  long before it looked) — never by comparing timestamps written by another machine,
  so clock skew between nodes cannot hand the lease to two replicas. A dead leader is
  thus replaced within one lease duration of its last renewal. Every write
  carries the Lease's resourceVersion, so two candidates cannot both win one round.
- The leader renews every `retry` seconds. When it has not renewed for
  `renew_deadline` (which must be shorter than the lease duration less one retry
  period) it stops leading *before* its lease can expire for anyone else: its writes
  are fenced (`Fence.holds()` turns False), and `run` stops the work it started and
  becomes a candidate again. Argo Rollouts has had reports of two active replicas
  after a missed renewal; the margin between the deadline and the lease duration is
  what prevents it.
- On a clean stop the leader gives the lease up (holder cleared), so a standby takes
  over at once instead of after a lease duration.

`run(stop, lead)` calls `lead(lost)` in a thread when it becomes leader; `lead` must
return soon after the `lost` event is set.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog

from rollout.platforms.kubernetes import refs, rest

__all__ = ["Elector", "Fence", "LeaseConfig"]

log = structlog.get_logger(__name__)

USES: tuple[tuple[str, str, tuple[str, ...]], ...] = (  # for the RBAC rules (see store.USES)
    ("coordination.k8s.io", "leases", ("get", "create", "update")),
)


@dataclasses.dataclass(frozen=True)
class LeaseConfig:
    namespace: str
    name: str = "rollout-controller"
    identity: str = "rollout"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.retry < self.renew_deadline < self.lease_duration - self.retry:
            raise ValueError(
                "leader election needs retry < renew deadline < lease duration - retry"
                f" (got {self.retry}, {self.renew_deadline}, {self.lease_duration})"
            )


def _micro_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Fence:
    """Whether this replica may write: True only while its lease is surely its own."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._until = 0.0  # monotonic time up to which this replica is the leader
        self._monotonic = monotonic
        self._lock = threading.Lock()

    def extend(self, until: float) -> None:
        with self._lock:
            self._until = until

    def drop(self) -> None:
        with self._lock:
            self._until = 0.0

    def holds(self) -> bool:
        with self._lock:
            return self._monotonic() < self._until


class Elector:
    """Campaigns for the Lease and runs the leader's work while it holds it."""

    def __init__(
        self,
        resources: rest.Resources,
        config: LeaseConfig,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.res = resources
        self.config = config
        self.fence = Fence(monotonic)
        self._monotonic = monotonic
        self._wall = wall
        self._observed: tuple[str, str, str] | None = None  # holder, renewTime, version
        self._observed_at = 0.0

    # --- one round ------------------------------------------------------------------

    def try_acquire_or_renew(self) -> bool:
        """One attempt; True when this replica holds the lease afterwards."""
        cfg = self.config
        now = self._wall()
        lease = self.res.find(refs.LEASES, cfg.namespace, cfg.name)
        if lease is None:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": cfg.name, "namespace": cfg.namespace},
                "spec": self._spec(now, acquired=now, transitions=0),
            }
            try:
                self.res.create(refs.LEASES, cfg.namespace, body)
            except Exception as exc:
                if rest.is_status(exc, 409):
                    return False
                raise
            return True
        spec: dict[str, Any] = lease.get("spec") or {}
        holder = str(spec.get("holderIdentity") or "")
        version = str(lease.get("metadata", {}).get("resourceVersion", ""))
        record = (holder, str(spec.get("renewTime") or ""), version)
        if record != self._observed:
            self._observed = record
            self._observed_at = self._monotonic()
        duration = float(spec.get("leaseDurationSeconds") or cfg.lease_duration)
        # the change happened at most one retry period before we saw it (we look that
        # often): count from then, so a dead leader is replaced within one duration
        waited = self._monotonic() - self._observed_at + min(cfg.retry, duration / 2)
        expired = waited >= duration
        if holder and holder != cfg.identity and not expired:
            return False
        transitions = int(spec.get("leaseTransitions") or 0)
        acquired = spec.get("acquireTime")
        if holder != cfg.identity:
            transitions += 1
            acquired = None
        lease["spec"] = self._spec(now, acquired=acquired or now, transitions=transitions)
        try:
            self.res.replace(refs.LEASES, cfg.namespace, cfg.name, lease)
        except Exception as exc:
            if rest.is_status(exc, 409):
                return False
            raise
        return True

    def _spec(self, now: datetime, *, acquired: datetime | str, transitions: int) -> dict[str, Any]:
        return {
            "holderIdentity": self.config.identity,
            "leaseDurationSeconds": round(self.config.lease_duration),
            "acquireTime": acquired if isinstance(acquired, str) else _micro_time(acquired),
            "renewTime": _micro_time(now),
            "leaseTransitions": transitions,
        }

    def release(self) -> None:
        """Give the lease up (a clean stop): clear the holder if it is still us."""
        cfg = self.config
        try:
            lease = self.res.find(refs.LEASES, cfg.namespace, cfg.name)
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != cfg.identity:
                return
            lease["spec"]["holderIdentity"] = None
            lease["spec"]["leaseDurationSeconds"] = 1
            self.res.replace(refs.LEASES, cfg.namespace, cfg.name, lease)
        except Exception as exc:  # best effort: the lease expires anyway
            log.warning("could not release the lease", error=str(exc))

    # --- the loop -------------------------------------------------------------------

    def _attempt(self) -> bool:
        started = self._monotonic()
        try:
            won = self.try_acquire_or_renew()
        except Exception as exc:
            log.warning("lease request failed", error=str(exc))
            return False
        if won:
            # sure until a renew deadline after the attempt began (not after it ended)
            self.fence.extend(started + self.config.renew_deadline)
        return won

    def run(self, stop: threading.Event, lead: Callable[[threading.Event], None]) -> None:
        """Campaign until `stop`; while leading, run `lead(lost)` in a thread."""
        cfg = self.config
        while not stop.is_set():
            if not self._attempt():
                stop.wait(cfg.retry)
                continue
            log.info("leading", lease=f"{cfg.namespace}/{cfg.name}", identity=cfg.identity)
            lost = threading.Event()
            worker = threading.Thread(target=lead, args=(lost,), name="leader-work")
            worker.start()
            while not stop.is_set():
                if not self.fence.holds():
                    break
                stop.wait(cfg.retry)
                if not stop.is_set():
                    self._attempt()
            lost.set()
            worker.join()
            if stop.is_set():
                self.fence.drop()
                self.release()
                log.info("stopped leading", identity=cfg.identity, reason="stopping")
                return
            self.fence.drop()
            log.warning("lost the lease", identity=cfg.identity)
