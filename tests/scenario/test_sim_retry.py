"""`retry` on the rehearsal platform (`--platform sim`) is judged on readings taken
after the retry, as on the local platform (issue 19): the simulated world of a canary
outlives its first release, and the retried release used to read that release's
traffic from the world's time 0 — and roll back within a second."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from scenarioenv import Env

from rollout.api.release import Phase
from rollout.controller import manager
from rollout.platforms import sim
from rollout.release import commands
from rollout.store import memory as memory_store

SCRAPE_DELAY = 10.0  # the sim platform's default: no reading sees a newer second


class SimEnv(Env):
    """The scenario harness on the rehearsal platform (a bad canary: 20% errors)."""

    def __init__(self) -> None:
        super().__init__()
        self.store = memory_store.MemoryStore(now=self.clock.now)
        self.platform = sim.make(self.clock, "bad-20pct", rps=50.0)
        self.controller = manager.Controller(self.store, self.platform, self.clock)

    @property
    def router(self):  # type: ignore[override]
        assert isinstance(self.platform.router, sim.SimTraffic)
        return self.platform.router.router


@pytest.fixture
def sim_env() -> SimEnv:
    return SimEnv()


POLICY = {
    "apiVersion": "rollout.dev/v1alpha1",
    "kind": "RolloutPolicy",
    "metadata": {"name": "seq"},
    "spec": {
        "steps": [{"setWeight": 50}, {"analysis": {"duration": "2m"}}],
        "analysis": {
            "interval": "5s",
            "failureLimit": 0,
            "metrics": [
                {
                    "name": "errors-vs-stable",
                    "provider": {"local": {"stat": "errors"}},
                    "compare": {"against": "stable", "method": "sequential", "alpha": 0.01},
                },
                {
                    "name": "error-rate",
                    "provider": {"local": {"stat": "error_rate"}},
                    "thresholds": {"max": 0.1},
                    "window": "1m",
                },
            ],
        },
    },
}


def ended(env: SimEnv, name: str) -> bool:
    return env.get_release(name).status.phase in (Phase.ROLLED_BACK, Phase.SUCCEEDED)


def started_at(env: SimEnv, name: str) -> datetime:
    at = env.get_release(name).status.started_at
    assert at is not None
    return at


def test_a_retried_release_is_judged_on_fresh_readings(sim_env: SimEnv) -> None:
    """Found: on sim, `retry` of a rolled-back release rolled back within a second on
    the first attempt's data. The retried release sees nothing for the scrape delay
    after it starts, then judges what the canary served since."""
    env = sim_env
    env.apply(POLICY)
    env.apply(env.service(policy="seq"))
    env.until(lambda: env.split() == {"web-00001": 100}, within=30)
    env.apply(env.service(policy="seq", version="v2"))
    env.until(lambda: env.releases(), within=10)
    first = env.releases()[0].metadata.name
    env.until(lambda: ended(env, first), within=300)
    assert env.get_release(first).status.phase is Phase.ROLLED_BACK

    env.advance(5)
    env.write_spec(first, commands.retry(env.get_release(first), now=env.clock.now(), by="t"))
    env.until(lambda: len(env.releases()) == 2, within=10, step=0.1)
    second = next(r.metadata.name for r in env.releases() if r.metadata.name != first)
    env.until(lambda: env.get_release(second).status.started_at is not None, within=10, step=0.1)
    began = started_at(env, second)

    env.until(lambda: ended(env, second), within=300, step=0.5)
    rel = env.get_release(second)
    assert rel.status.phase is Phase.ROLLED_BACK  # the canary is still bad
    assert rel.status.finished_at is not None
    took = (rel.status.finished_at - began).total_seconds()
    assert took >= SCRAPE_DELAY, f"rolled back {took:g} s after the retry: on old readings"
    for metric in rel.status.analysis:  # no reading looked before the retried release
        if metric.measured_until is not None:
            assert metric.measured_until >= began - timedelta(seconds=1), metric
