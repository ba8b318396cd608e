"""What is known of the controller, for `rollout status` and `rollout dashboard`: its
last heartbeat as a `views.problems.Heartbeat`, which says "no controller seen".

- On a state dir: the heartbeat file the controller writes (`rollout.store.heartbeat`),
  stale after `STALE_BEATS` periods — `of_state_dir`.
- On Kubernetes: the leader-election Lease's `renewTime`, stale after its
  `leaseDurationSeconds` (when another replica may take over) — `of_lease`, pure, from
  the Lease object; `find_lease` looks it up (in the install's namespace, then in the
  one shown), `LeaseReader` does so at most every few seconds for a page that looks
  four times a second. No Lease (a controller without `--leader-elect` leaves no trace
  to look at), no right to read Leases, an unreadable one: nothing is known, and
  nothing is said (None).

The wall clock is the caller's (`now`, or `clock` for `LeaseReader`). Called by
`status_cmd` and `dashboard_cmd`.
"""

from __future__ import annotations

import pathlib
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rollout import clock as clocks
from rollout.store import heartbeat
from rollout.views import problems as problem_view

if TYPE_CHECKING:  # the Kubernetes client is imported where a cluster is used
    from rollout.platforms.kubernetes import rest

__all__ = [
    "LEASE",
    "LEASE_RETRY",
    "LeaseReader",
    "find_lease",
    "of_lease",
    "of_state_dir",
]

LEASE = "rollout-controller"  # `rollout controller --lease-name`'s default
LEASE_RETRY = 2.0  # seconds between two renewals (`leader.LeaseConfig.retry`)


def of_state_dir(
    state_dir: pathlib.Path,
    *,
    now: datetime,
    grace: float,
    watching_since: datetime | None = None,
) -> problem_view.Heartbeat:
    """The state dir's heartbeat file; `grace`: seconds without a controller before
    the service is blocked (at least the beats it takes to go stale)."""
    beat = heartbeat.read(state_dir)
    period = beat.period if beat is not None else heartbeat.PERIOD
    return problem_view.Heartbeat(
        at=beat.at if beat is not None else None,
        now=now,
        period=period,
        stale_after=period * heartbeat.STALE_BEATS,
        grace=max(grace, period * heartbeat.STALE_BEATS),
        watching_since=watching_since,
        where=str(state_dir),
    )


def of_lease(
    lease: Mapping[str, Any] | None, *, now: datetime, grace: float
) -> problem_view.Heartbeat | None:
    """The Lease's `renewTime` as the heartbeat (None: no Lease, or one without a
    readable renewTime)."""
    if lease is None:
        return None
    spec = lease.get("spec") or {}
    meta = lease.get("metadata") or {}
    try:
        at = datetime.fromisoformat(str(spec["renewTime"]).replace("Z", "+00:00"))
        duration = float(spec.get("leaseDurationSeconds") or 15)
    except (KeyError, ValueError, TypeError):
        return None
    if at.tzinfo is None:
        return None
    return problem_view.Heartbeat(
        at=at,
        now=now,
        period=LEASE_RETRY,
        stale_after=duration,
        grace=max(grace, duration),
        where=f"Lease {meta.get('namespace', '')}/{meta.get('name', LEASE)}",
    )


def find_lease(resources: rest.Resources, namespaces: Iterable[str]) -> dict[str, Any] | None:
    """The controller's Lease, from the first of `namespaces` that has one; None when
    none has, or when Leases cannot be read (no right to, say: cannot tell)."""
    from rollout.platforms.kubernetes import refs  # only where a cluster is used

    for namespace in dict.fromkeys(namespaces):
        try:
            lease = resources.find(refs.LEASES, namespace, LEASE)
        except Exception:  # forbidden, unreachable: nothing known
            return None
        if lease is not None:
            lease.setdefault("metadata", {}).setdefault("namespace", namespace)
            return lease
    return None


class LeaseReader:
    """`find_lease` at most every `every` seconds (`monotonic`), the heartbeat worked
    out afresh at each call against `clock`: a callable for `dashboard.source.Source`
    (which looks whenever the store changed, up to four times a second)."""

    def __init__(
        self,
        find: Callable[[], Mapping[str, Any] | None],
        *,
        clock: clocks.Clock,
        grace: float,
        every: float = LEASE_RETRY,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._find = find
        self._clock = clock
        self._grace = grace
        self._every = every
        self._monotonic = monotonic
        self._read: tuple[float, Mapping[str, Any] | None] | None = None

    def __call__(self) -> problem_view.Heartbeat | None:
        at = self._monotonic()
        if self._read is None or at - self._read[0] >= self._every:
            self._read = (at, self._find())
        return of_lease(self._read[1], now=self._clock.now(), grace=self._grace)
