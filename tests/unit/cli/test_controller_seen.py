"""`controller_seen`: the leader Lease as the controller's heartbeat (what `rollout
status` and the dashboard say of a missing controller on Kubernetes), and the reader
that asks the API server for it at most every few seconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rollout.cli import controller_seen

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.at = NOW

    def now(self) -> datetime:
        return self.at


def lease(renewed: Any, duration: Any = 15) -> dict[str, Any]:
    return {
        "metadata": {"name": "rollout-controller", "namespace": "rollout-system"},
        "spec": {"holderIdentity": "a", "renewTime": renewed, "leaseDurationSeconds": duration},
    }


def stamp(age: float) -> str:
    return (NOW - timedelta(seconds=age)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.mark.parametrize(
    ("obj", "message", "blocking"),
    [
        pytest.param(None, None, False, id="no-lease-nothing-said"),
        pytest.param(lease(stamp(2)), None, False, id="fresh"),
        pytest.param(lease(stamp(15)), None, False, id="at-its-duration"),
        pytest.param(
            lease(stamp(20)),
            "no controller seen for 20s (its heartbeat is due every 2s)",
            False,
            id="stale-not-yet-blocking",
        ),
        pytest.param(
            lease(stamp(60)),
            "no controller seen for 60s (its heartbeat is due every 2s)",
            True,
            id="stale-past-grace-blocks",
        ),
        pytest.param(lease(stamp(60), duration=90), None, False, id="its-own-duration"),
        pytest.param(lease("yesterday"), None, False, id="unreadable-renew-time"),
        pytest.param(lease("2026-01-01T11:00:00"), None, False, id="no-time-zone"),
        pytest.param({"spec": {}}, None, False, id="never-renewed"),
    ],
)
def test_a_lease_as_the_heartbeat(
    obj: dict[str, Any] | None, message: str | None, blocking: bool
) -> None:
    """Stale after leaseDurationSeconds, blocking after the grace; nothing said
    without a readable renewTime."""
    beat = controller_seen.of_lease(obj, now=NOW, grace=30)
    problem = beat.problem() if beat is not None else None
    if message is None:
        assert problem is None
        return
    assert problem is not None
    assert problem.reason == "NoController"
    assert problem.message.startswith(message)
    assert problem.blocking is blocking


def test_the_reader_asks_at_most_every_period_and_ages_the_lease_in_between() -> None:
    """Four looks a second cost one Lease read every 2 s; the age grows with the
    clock between two reads."""
    reads: list[int] = []
    clock, tick = Clock(), [0.0]

    def find() -> dict[str, Any]:
        reads.append(1)
        return lease(stamp(10))

    reader = controller_seen.LeaseReader(
        find, clock=clock, grace=30, every=2.0, monotonic=lambda: tick[0]
    )
    first = reader()
    assert first is not None
    assert first.problem() is None
    tick[0], clock.at = 1.0, NOW + timedelta(seconds=10)
    late = reader()
    assert late is not None
    assert late.problem() is not None  # 20 s old now, read once
    assert len(reads) == 1
    tick[0] = 2.0
    reader()
    assert len(reads) == 2


def test_a_lease_is_looked_for_in_each_namespace_in_turn() -> None:
    """The install's namespace first, then the one shown; a refused read is no Lease."""
    asked: list[str] = []

    class Resources:
        def __init__(self, found: dict[str, dict[str, Any]], refuse: bool = False) -> None:
            self.found, self.refuse = found, refuse

        def find(self, ref: Any, namespace: str, name: str) -> dict[str, Any] | None:
            asked.append(namespace)
            if self.refuse:
                raise RuntimeError("forbidden")
            assert name == controller_seen.LEASE
            return self.found.get(namespace)

    found = {"shop": {"spec": {"renewTime": stamp(1)}}}
    resources: Any = Resources(found)
    got = controller_seen.find_lease(resources, ["rollout-system", "shop", "shop"])
    assert got is not None
    assert got["metadata"]["namespace"] == "shop"
    assert asked == ["rollout-system", "shop"]
    asked.clear()
    refusing: Any = Resources(found, refuse=True)
    assert controller_seen.find_lease(refusing, ["a", "shop"]) is None
    assert asked == ["a"]
