"""Run many seeds of one decision-maker on one scenario, over several processes.

Seeds are split into contiguous chunks, each run by `harness.run_many` in a worker
process (the runner factory must be picklable: a class or a `functools.partial`), and
the results are joined in seed order — the same numbers as one process would give.

Process plumbing only; called by `rollout simulate` and `bench/decision_quality.py`.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
from collections.abc import Callable

from rollout.sim import harness, scenarios, world

__all__ = ["default_jobs", "run"]


def default_jobs() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def run(
    make_runner: Callable[[], harness.Runner],
    scenario: scenarios.Scenario,
    *,
    seeds: int,
    rps: float,
    p0: float,
    scrape_delay: float,
    jobs: int = 1,
    first_seed: int = 0,
    prometheus: world.Prometheus | None = None,
) -> harness.Summary:
    """Seeds `first_seed … first_seed + seeds - 1` of `scenario`, in `jobs` processes."""
    work = functools.partial(
        harness.run_many,
        make_runner,
        scenario,
        rps=rps,
        p0=p0,
        scrape_delay=scrape_delay,
        prometheus=prometheus,
    )
    all_seeds = list(range(first_seed, first_seed + seeds))
    if jobs <= 1 or seeds < 2 * jobs:
        return work(all_seeds)
    size = -(-seeds // jobs)
    chunks = [all_seeds[i : i + size] for i in range(0, seeds, size)]
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs) as pool:
        parts = list(pool.map(work, chunks))
    return harness.Summary(tuple(r for part in parts for r in part.results))
