"""Leader election rules (`rollout/platforms/kubernetes/leader.py`) on a fake Lease API
with a fake monotonic clock: who may take the lease and when, and the fence."""

from __future__ import annotations

import copy
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from rollout.platforms.kubernetes import leader, refs


class FakeLeases:
    """One namespace's Leases with resourceVersion preconditions, like the API server."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.version = 0
        self.fail = False

    def _check(self) -> None:
        if self.fail:
            raise ApiException(status=500, reason="injected")

    def find(self, ref: refs.Ref, namespace: str, name: str) -> dict[str, Any] | None:
        self._check()
        obj = self.objects.get(name)
        return copy.deepcopy(obj) if obj else None

    def create(self, ref: refs.Ref, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        self._check()
        name = body["metadata"]["name"]
        if name in self.objects:
            raise ApiException(status=409, reason="AlreadyExists")
        self.version += 1
        body = copy.deepcopy(body)
        body["metadata"]["resourceVersion"] = str(self.version)
        self.objects[name] = body
        return copy.deepcopy(body)

    def replace(
        self, ref: refs.Ref, namespace: str, name: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        self._check()
        current = self.objects[name]
        if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise ApiException(status=409, reason="Conflict")
        self.version += 1
        body = copy.deepcopy(body)
        body["metadata"]["resourceVersion"] = str(self.version)
        self.objects[name] = body
        return copy.deepcopy(body)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def elector(api: FakeLeases, clock: Clock, identity: str, *, epoch: int = 2030) -> leader.Elector:
    """An elector whose wall clock runs with `clock` from the start of year `epoch`."""
    config = leader.LeaseConfig(namespace="ops", identity=identity)
    start = datetime(epoch, 1, 1, tzinfo=UTC)
    return leader.Elector(
        api,  # type: ignore[arg-type]
        config,
        monotonic=clock,
        wall=lambda: start + timedelta(seconds=clock.t),
    )


def holder(api: FakeLeases) -> str | None:
    return api.objects["rollout-controller"]["spec"]["holderIdentity"]  # type: ignore[no-any-return]


def test_the_first_candidate_creates_the_lease_and_leads() -> None:
    api, clock = FakeLeases(), Clock()
    assert elector(api, clock, "a").try_acquire_or_renew()
    assert holder(api) == "a"
    assert api.objects["rollout-controller"]["spec"]["leaseDurationSeconds"] == 15


def test_a_second_candidate_waits_while_the_holder_renews() -> None:
    api, clock = FakeLeases(), Clock()
    a, b = elector(api, clock, "a"), elector(api, clock, "b")
    assert a.try_acquire_or_renew()
    for _ in range(20):  # 40 s of renewals every 2 s
        clock.t += 2
        assert a.try_acquire_or_renew()
        assert not b.try_acquire_or_renew()
    assert holder(api) == "a"


def test_a_candidate_takes_a_lease_not_renewed_for_a_lease_duration() -> None:
    """Judged by the candidate's own clock from when it saw the record change."""
    api, clock = FakeLeases(), Clock()
    a, b = elector(api, clock, "a"), elector(api, clock, "b")
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()  # b sees the record now: renewed up to 2 s before
    clock.t += 12.9
    assert not b.try_acquire_or_renew()
    clock.t += 0.1  # 13 s after b saw it, so at most 15 s after the last renewal
    assert b.try_acquire_or_renew()
    assert holder(api) == "b"
    assert api.objects["rollout-controller"]["spec"]["leaseTransitions"] == 1


def test_timestamps_written_by_another_machine_are_not_trusted() -> None:
    """A holder whose wall clock is far behind still keeps the lease while it renews."""
    api, clock = FakeLeases(), Clock()
    a = elector(api, clock, "a", epoch=2001)  # skewed by decades
    b = elector(api, clock, "b")
    assert a.try_acquire_or_renew()
    for second in range(1, 60):
        clock.t += 1
        if second % 2 == 0:
            assert a.try_acquire_or_renew()
        assert not b.try_acquire_or_renew()


def test_two_candidates_racing_for_one_expired_lease_do_not_both_win(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both read the expired record before either writes: the second write carries a
    stale resourceVersion and loses."""
    api, clock = FakeLeases(), Clock()
    a, b, c = (elector(api, clock, n) for n in "abc")
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    assert not c.try_acquire_or_renew()
    clock.t += 16
    stale = api.find(refs.LEASES, "ops", "rollout-controller")
    assert b.try_acquire_or_renew()
    monkeypatch.setattr(api, "find", lambda *args: copy.deepcopy(stale))
    assert not c.try_acquire_or_renew()
    assert holder(api) == "b"


def test_the_fence_closes_at_the_renew_deadline_before_anyone_can_take_over() -> None:
    """Writes stop a renew deadline after the last successful attempt began; a standby
    cannot take the lease before a whole lease duration after it last saw a change."""
    api, clock = FakeLeases(), Clock()
    a, b = elector(api, clock, "a"), elector(api, clock, "b")
    assert a._attempt()
    assert not b.try_acquire_or_renew()
    assert a.fence.holds()
    clock.t += 9.9
    assert a.fence.holds()
    clock.t += 0.1
    assert not a.fence.holds()  # 10 s: a stops writing …
    assert not b.try_acquire_or_renew()  # … while b still waits
    clock.t += 3
    assert b.try_acquire_or_renew()  # 13 s after b saw the renewal: b takes over
    assert not a._attempt()  # and a cannot win it back while b renews
    assert not a.fence.holds()


@pytest.mark.parametrize(
    ("retry", "deadline", "duration"),
    [(2, 10, 10), (2, 15, 10), (10, 10, 15), (0, 10, 15), (2, 13, 15)],
    ids=["deadline=duration", "deadline>duration", "retry=deadline", "retry=0", "no-margin"],
)
def test_inconsistent_timings_are_refused(retry: float, deadline: float, duration: float) -> None:
    with pytest.raises(ValueError, match="retry < renew deadline < lease duration - retry"):
        leader.LeaseConfig(
            namespace="ops", retry=retry, renew_deadline=deadline, lease_duration=duration
        )


def test_run_leads_stops_when_renewal_fails_and_campaigns_again() -> None:
    """With real time (short timings): work starts, a failing API stops it within the
    renew deadline, the fence is closed by then, and it leads again when the API is
    back; a clean stop gives the lease up."""
    api = FakeLeases()
    config = leader.LeaseConfig(
        namespace="ops", identity="a", lease_duration=1.5, renew_deadline=1.0, retry=0.1
    )
    e = leader.Elector(api, config)  # type: ignore[arg-type]
    terms: list[threading.Event] = []
    started = threading.Semaphore(0)

    def lead(lost: threading.Event) -> None:
        terms.append(lost)
        started.release()
        lost.wait()

    stop = threading.Event()
    runner = threading.Thread(target=e.run, args=(stop, lead))
    runner.start()
    try:
        assert started.acquire(timeout=5)
        assert e.fence.holds()
        api.fail = True
        assert terms[0].wait(timeout=5)
        assert not e.fence.holds()
        api.fail = False
        assert started.acquire(timeout=5)  # leading again
        assert len(terms) == 2
    finally:
        stop.set()
        runner.join(timeout=5)
    assert not runner.is_alive()
    assert holder(api) is None  # given up on a clean stop
