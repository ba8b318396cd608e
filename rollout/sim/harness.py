"""The loop every decision-maker runs in, and the scores of issue 3 item 5.

A decision-maker is a `Runner`: it says when it next wants to decide, reads the
world's metrics at that time, and exposes the canary weight it applies and, once it
is done, an `Outcome`. `run_one` drives one seed: advance the world to the runner's
next decision time at the current weight, let it decide, repeat until it reports an
outcome or the horizon is reached (UNDECIDED). `run_many` repeats that over seeds
and `summary_dict` turns the results into the JSON object of issue 3 item 5.

Scoring:
- failed requests: failed requests the canary served until its weight reached 0
  (rollback) or the run ended (promotion, pause for a human, horizon);
- time to rollback: the time the weight went back to 0 with outcome ROLLED_BACK;
- time to promote: the first time the weight reached 100% with outcome PROMOTED
  (the decision time when a runner reports PROMOTED without routing 100%).

Must not: do I/O, read clocks, or know how any runner decides. Our own engine and the
baselines (`rollout.sim.baselines`) plug in through `Runner`; the CLI and the
benchmark call `run_many` and `summary_dict`.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from rollout.sim import scenarios, world

__all__ = [
    "Outcome",
    "RunResult",
    "Runner",
    "Summary",
    "run_many",
    "run_one",
    "summary_dict",
]

#: Decisions a runner may take at one instant before the harness calls it stuck.
_MAX_DECISIONS_AT_ONE_TIME = 1000


class Outcome(enum.StrEnum):
    """How a run ended."""

    PROMOTED = "Promoted"
    ROLLED_BACK = "RolledBack"
    PAUSED = "Paused"  # stopped, waiting for a human
    UNDECIDED = "Undecided"  # the horizon came first (set by the harness only)


class Runner(Protocol):
    """A decision-maker the harness can drive."""

    def start(self, world: world.World) -> None:
        """Begin the release at `world.now`."""

    def next_decision_at(self) -> float:
        """When the runner next wants to decide, seconds (not before `world.now`)."""

    def decide(self, world: world.World) -> None:
        """Read the world's metrics at `world.now` and update weight and outcome."""

    @property
    def weight(self) -> float:
        """Canary weight (0..1) as applied now."""

    @property
    def outcome(self) -> Outcome | None:
        """None while the release runs."""


@dataclasses.dataclass(frozen=True)
class RunResult:
    """What happened in one seed's run."""

    outcome: Outcome
    failed_requests: int
    time_to_rollback_s: float | None
    time_to_promote_s: float | None
    end_s: float


def run_one(
    make_runner: Callable[[], Runner],
    scenario: scenarios.Scenario,
    *,
    seed: int,
    rps: float = 10.0,
    p0: float = 0.001,
    scrape_delay: float = 10.0,
    horizon: float = 3600.0,
    prometheus: world.Prometheus | None = None,
) -> RunResult:
    """Run one fresh runner against one seed's world until an outcome or the horizon
    (with `prometheus`, its metrics backend is a Prometheus scraping counters)."""
    w = world.World(
        scenario, seed=seed, rps=rps, p0=p0, scrape_delay=scrape_delay, prometheus=prometheus
    )
    runner = make_runner()
    runner.start(w)
    promoted_at: float | None = None
    last_time = w.now
    decisions_now = 0
    while runner.outcome is None:
        due = runner.next_decision_at()
        if due < w.now:
            raise ValueError(f"runner wants to decide at {due}, before now {w.now}")
        if due > horizon:
            w.advance(horizon, runner.weight)
            break
        w.advance(due, runner.weight)
        runner.decide(w)
        if runner.weight >= 1.0 and promoted_at is None:
            promoted_at = w.now
        decisions_now = decisions_now + 1 if w.now == last_time else 1
        last_time = w.now
        if decisions_now > _MAX_DECISIONS_AT_ONE_TIME:
            raise RuntimeError(f"runner keeps deciding at t={w.now} without moving on")
    outcome = runner.outcome if runner.outcome is not None else Outcome.UNDECIDED
    return RunResult(
        outcome=outcome,
        failed_requests=w.canary_failed,
        time_to_rollback_s=w.now if outcome is Outcome.ROLLED_BACK else None,
        time_to_promote_s=(
            (promoted_at if promoted_at is not None else w.now)
            if outcome is Outcome.PROMOTED
            else None
        ),
        end_s=w.now,
    )


@dataclasses.dataclass(frozen=True)
class Summary:
    """The results of one runner on one scenario over many seeds."""

    results: tuple[RunResult, ...]

    @property
    def runs(self) -> int:
        return len(self.results)

    def share(self, outcome: Outcome) -> float:
        """Share of runs that ended with `outcome`."""
        if not self.results:
            return 0.0
        return sum(r.outcome is outcome for r in self.results) / len(self.results)

    def failed_requests(self) -> npt.NDArray[np.float64]:
        return np.array([r.failed_requests for r in self.results], dtype=np.float64)

    def times_to_rollback(self) -> npt.NDArray[np.float64]:
        times = [r.time_to_rollback_s for r in self.results if r.time_to_rollback_s is not None]
        return np.array(times, dtype=np.float64)

    def times_to_promote(self) -> npt.NDArray[np.float64]:
        times = [r.time_to_promote_s for r in self.results if r.time_to_promote_s is not None]
        return np.array(times, dtype=np.float64)


def run_many(
    make_runner: Callable[[], Runner],
    scenario: scenarios.Scenario,
    seeds: Iterable[int],
    *,
    rps: float = 10.0,
    p0: float = 0.001,
    scrape_delay: float = 10.0,
    horizon: float = 3600.0,
    prometheus: world.Prometheus | None = None,
) -> Summary:
    """`run_one` for each seed (each with its own fresh runner and world)."""
    return Summary(
        tuple(
            run_one(
                make_runner,
                scenario,
                seed=seed,
                rps=rps,
                p0=p0,
                scrape_delay=scrape_delay,
                horizon=horizon,
                prometheus=prometheus,
            )
            for seed in seeds
        )
    )


def _stat(values: npt.NDArray[np.float64], kind: str) -> float | None:
    if values.size == 0:
        return None
    if kind == "mean":
        return float(values.mean())
    return float(np.percentile(values, float(kind[1:])))


def summary_dict(
    policy_name: str,
    scenario: scenarios.Scenario,
    seeds: int,
    rps: float,
    p0: float,
    summary: Summary,
) -> dict[str, Any]:
    """The JSON object of issue 3 item 5 (shares in 0..1, null when not applicable)."""
    rolled_back = summary.share(Outcome.ROLLED_BACK)
    failed = summary.failed_requests()
    rollback_times = summary.times_to_rollback()
    promote_times = summary.times_to_promote()
    return {
        "policy": policy_name,
        "scenario": scenario.name,
        "seeds": seeds,
        "rps": rps,
        "p0": p0,
        "detection": rolled_back if scenario.bad else None,
        "promoted": summary.share(Outcome.PROMOTED),
        "rolledBack": rolled_back,
        "paused": summary.share(Outcome.PAUSED),
        "failedRequests": {
            "mean": _stat(failed, "mean"),
            "p50": _stat(failed, "p50"),
            "p95": _stat(failed, "p95"),
        },
        "timeToRollbackS": {
            "mean": _stat(rollback_times, "mean"),
            "p95": _stat(rollback_times, "p95"),
        },
        "timeToPromoteS": {
            "mean": _stat(promote_times, "mean"),
            "p95": _stat(promote_times, "p95"),
        },
        "falseRollback": rolled_back if not scenario.bad else None,
    }
