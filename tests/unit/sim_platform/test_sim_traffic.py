"""The rehearsal platform draws a release's simulated traffic only when it is read, and
draws the same traffic as if it had followed every applied weight as it came."""

from __future__ import annotations

import pathlib
from datetime import timedelta

import pytest

from rollout import clock as clocks
from rollout.api import route
from rollout.platforms import sim

STEPS = ((10, 30), (50, 45), (100, 20))  # canary weight, then seconds at it


def a_route(canary_weight: int) -> route.Route:
    return route.Route.model_validate(
        {
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "service": "web",
                "traffic": [
                    {"revisionName": "web-00001", "percent": 100 - canary_weight, "tag": "stable"},
                    {"revisionName": "web-00002", "percent": canary_weight, "tag": "canary"},
                ],
            },
        }
    )


def failed_after_steps(*, read_every_step: bool) -> list[int]:
    """Apply each step's weight, let its time pass; the canary's failed requests as
    read at each step (or only at the end)."""
    clock = clocks.FakeClock()
    traffic = sim.SimTraffic(clock, sim.scenarios.get("bad-5pct"))
    seen = []
    for weight, seconds in STEPS:
        traffic.apply(a_route(weight))
        clock.advance(timedelta(seconds=seconds))
        if read_every_step:
            seen.append(traffic.canary_failed("default", "web", "web-00002"))
    traffic.apply(a_route(100))  # the last step's traffic, drawn up to now
    seen.append(traffic.canary_failed("default", "web", "web-00002"))
    return seen


def test_traffic_read_late_is_the_traffic_read_as_it_came() -> None:
    """Read only at the end, the world has drawn exactly what step-by-step reads saw."""
    eager = failed_after_steps(read_every_step=True)
    assert eager == sorted(eager)
    assert eager[-1] > 0
    assert failed_after_steps(read_every_step=False) == [eager[-1]]


@pytest.mark.parametrize("weight", [0, 10], ids=["stable-only", "canary-10"])
def test_no_world_is_drawn_until_it_is_read(monkeypatch: pytest.MonkeyPatch, weight: int) -> None:
    """Applying routes alone builds no world (a policy without analysis pays nothing)."""
    built = []
    monkeypatch.setattr(sim.world, "World", lambda *a, **k: built.append(a))
    clock = clocks.FakeClock()
    traffic = sim.SimTraffic(clock, sim.scenarios.get("good"))
    for _ in range(3):
        traffic.apply(a_route(weight))
        clock.advance(timedelta(seconds=10))
    assert built == []


def test_a_restarted_controller_continues_the_same_traffic(tmp_path: pathlib.Path) -> None:
    """With a journal, a platform made again after a restart (mid-release, the world
    never read before it) draws the traffic the first one would have: the same
    origin, the same weights at the same times (found: each restart started a new
    world, and a bad canary promoted on what little traffic a short life saw)."""
    journal = tmp_path / sim.JOURNAL_FILE
    uninterrupted = failed_after_steps(read_every_step=False)[-1]

    clock = clocks.FakeClock()
    first = sim.SimTraffic(clock, sim.scenarios.get("bad-5pct"), journal=journal)
    for weight, seconds in STEPS[:2]:
        first.apply(a_route(weight))
        clock.advance(timedelta(seconds=seconds))
    # SIGKILL: the first platform is gone; the next one starts from the journal.
    second = sim.SimTraffic(clock, sim.scenarios.get("bad-5pct"), journal=journal)
    second.apply(a_route(100))
    clock.advance(timedelta(seconds=STEPS[2][1]))
    second.apply(a_route(100))

    assert second.canary_failed("default", "web", "web-00002") == uninterrupted
    lines = journal.read_text().splitlines()
    assert len(lines) == 3  # one line per weight change: 10, 50, 100
    fresh = sim.SimTraffic(clock, sim.scenarios.get("bad-5pct"))  # no journal: a new world
    assert fresh.canary_failed("default", "web", "web-00002") == 0
