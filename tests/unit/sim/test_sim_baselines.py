"""Baselines: Flagger's and Argo's behaviour tables, then their figures on a few seeds."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from rollout.sim import baselines, harness, scenarios

Traffic = Callable[[int], tuple[int, int]]  # second -> canary (requests, errors)


class FakeWorld:
    """Canary traffic from a script, seen through a scrape delay (weights ignored)."""

    def __init__(self, traffic: Traffic, *, scrape_delay: float = 10.0, p99: float = 0.2):
        self.traffic = traffic
        self.scrape_delay = scrape_delay
        self.p99 = p99
        self.now = 0.0
        self.queries: list[tuple[float, float, float]] = []

    def counts(self, revision: str, start: float, end: float) -> tuple[int, int]:
        assert revision == "canary"
        self.queries.append((self.now, start, end))
        end = min(end, self.now - self.scrape_delay)
        seconds = range(max(0, math.ceil(start)), max(0, math.floor(end)))
        pairs = [self.traffic(s) for s in seconds]
        return sum(p[0] for p in pairs), sum(p[1] for p in pairs)

    def latency_quantile(self, revision: str, start: float, end: float, q: float) -> float:
        return self.p99


def drive(
    runner: harness.Runner, fake: FakeWorld, *, until: float = 7200.0
) -> list[tuple[float, int]]:
    """Run `runner` on `fake`; return (time, weight %) after each decision."""
    runner.start(fake)  # type: ignore[arg-type]
    trace = []
    while runner.outcome is None and runner.next_decision_at() <= until:
        fake.now = runner.next_decision_at()
        runner.decide(fake)  # type: ignore[arg-type]
        trace.append((fake.now, round(runner.weight * 100)))
    return trace


def healthy(second: int) -> tuple[int, int]:
    return 10, 0


def failing(second: int) -> tuple[int, int]:
    return 10, 1  # 90% success


def silent(second: int) -> tuple[int, int]:
    return 0, 0


# -- Flagger -----------------------------------------------------------------------------


def test_flagger_healthy_canary_steps_to_max_then_promotes() -> None:
    """Init tick at 0 (weight 0), +5% per minute to 50% at 10m, promote at 11m, 100% at 12m."""
    runner = baselines.FlaggerRunner()
    trace = drive(runner, FakeWorld(healthy))
    expected = [(0.0, 0)] + [(60.0 * k, 5 * k) for k in range(1, 11)] + [(660.0, 50), (720.0, 100)]
    assert trace == expected
    assert runner.outcome is harness.Outcome.PROMOTED
    assert runner.failed_checks == 0


def test_flagger_does_not_check_metrics_at_weight_zero() -> None:
    """The first traffic shift happens without a metric query ("Starting canary analysis")."""
    fake = FakeWorld(silent)
    runner = baselines.FlaggerRunner()
    drive(runner, fake, until=60.0)
    assert fake.queries == []
    assert runner.weight == 0.05


def test_flagger_check_reads_the_last_minute() -> None:
    """The success-rate query covers [now − 1m, now) (the world applies the delay)."""
    fake = FakeWorld(healthy)
    drive(baselines.FlaggerRunner(), fake, until=120.0)
    assert fake.queries == [(120.0, 60.0, 120.0)]


def test_flagger_failed_check_holds_the_weight() -> None:
    """A failing check increments failedChecks and keeps the weight."""
    runner = baselines.FlaggerRunner()
    trace = drive(runner, FakeWorld(lambda s: healthy(s) if s < 110 else failing(s)), until=180.0)
    assert trace == [(0.0, 0), (60.0, 5), (120.0, 10), (180.0, 10)]
    assert runner.failed_checks == 1


def test_flagger_no_data_counts_as_a_failed_check() -> None:
    """Zero canary requests in the window ("no values found") fails the check."""
    runner = baselines.FlaggerRunner()
    trace = drive(runner, FakeWorld(silent), until=180.0)
    assert trace == [(0.0, 0), (60.0, 5), (120.0, 5), (180.0, 5)]
    assert runner.failed_checks == 2


def test_flagger_rolls_back_on_the_tick_after_the_threshold() -> None:
    """Checks fail at 2..6m; failedChecks hits 5 at 6m; the rollback comes at 7m."""
    runner = baselines.FlaggerRunner()
    trace = drive(runner, FakeWorld(failing))
    assert trace == [(0.0, 0)] + [(60.0 * k, 5) for k in range(1, 7)] + [(420.0, 0)]
    assert runner.failed_checks == 5
    assert runner.outcome is harness.Outcome.ROLLED_BACK


def test_flagger_failed_checks_are_cumulative() -> None:
    """Passing checks do not reset the counter: fail, pass, fail... still reaches 5."""

    def alternating(second: int) -> tuple[int, int]:
        return failing(second) if (second // 60) % 2 == 0 else healthy(second)

    runner = baselines.FlaggerRunner()
    drive(runner, FakeWorld(alternating, scrape_delay=0.0))
    assert runner.outcome is harness.Outcome.ROLLED_BACK
    assert runner.failed_checks == 5
    assert runner.history[-1][1].startswith("rollback")


def test_flagger_success_rate_threshold_is_inclusive() -> None:
    """99% success exactly passes (thresholdRange.min 99)."""
    runner = baselines.FlaggerRunner()
    fake = FakeWorld(lambda s: (100, 1))
    fake.now = 120.0
    assert runner.check(fake)[0] is True  # type: ignore[arg-type]
    fake.traffic = lambda s: (100, 2)
    assert runner.check(fake)[0] is False  # type: ignore[arg-type]


def test_flagger_latency_check_is_optional() -> None:
    """With max_p99_s set, a slow canary fails the check; without it, it passes."""
    fake = FakeWorld(healthy, p99=0.6)
    fake.now = 120.0
    assert baselines.FlaggerRunner().check(fake)[0] is True  # type: ignore[arg-type]
    strict = baselines.FlaggerRunner(baselines.FlaggerConfig(max_p99_s=0.5))
    assert strict.check(fake) == (False, "request duration p99 0.600s > 0.5s")  # type: ignore[arg-type]


def test_flagger_without_initialize_tick_starts_at_first_shift() -> None:
    """initialize_tick=False: 5% at 0, promoted at 10m, 100% at 11m."""
    trace = drive(
        baselines.FlaggerRunner(baselines.FlaggerConfig(initialize_tick=False)),
        FakeWorld(healthy),
    )
    assert trace[0] == (0.0, 5)
    assert trace[-2:] == [(600.0, 50), (660.0, 100)]


# -- Argo Rollouts -----------------------------------------------------------------------


def test_argo_healthy_canary_walks_the_steps_and_promotes_at_40m() -> None:
    """20/40/60/80% every 10m, 100% at 40m; measurements every 5m from 0 to 35m."""
    runner = baselines.ArgoRunner()
    trace = drive(runner, FakeWorld(healthy))
    weights = dict(trace)
    assert [weights[t] for t in (0.0, 600.0, 1200.0, 1800.0, 2400.0)] == [20, 40, 60, 80, 100]
    assert runner.outcome is harness.Outcome.PROMOTED
    times = [t for t, _ in runner.measurements]
    assert times == [300.0 * k for k in range(8)]
    assert runner.measurements[0][1] is baselines.Measurement.ERROR  # no data yet at t=0
    assert {m for _, m in runner.measurements[1:]} == {baselines.Measurement.SUCCESSFUL}


def test_argo_aborts_on_the_fourth_failed_measurement() -> None:
    """failureLimit 3: failures at 5, 10, 15m keep going; the 4th (20m) aborts."""
    runner = baselines.ArgoRunner()
    trace = drive(runner, FakeWorld(failing))
    assert trace[-1] == (1200.0, 0)
    assert runner.outcome is harness.Outcome.ROLLED_BACK
    failed = [t for t, m in runner.measurements if m is baselines.Measurement.FAILED]
    assert failed == [300.0, 600.0, 900.0, 1200.0]


def test_argo_background_analysis_does_not_hold_the_weight() -> None:
    """Failed measurements below the limit do not stop the steps."""
    runner = baselines.ArgoRunner()
    trace = drive(runner, FakeWorld(failing), until=1100.0)
    assert trace[-1][1] == 40


def test_argo_aborts_after_five_consecutive_errors() -> None:
    """consecutiveErrorLimit 4: an all-error canary (no success series) aborts at the 5th."""
    runner = baselines.ArgoRunner()
    trace = drive(runner, FakeWorld(lambda s: (10, 10)))
    assert trace[-1] == (1200.0, 0)
    assert [m for _, m in runner.measurements] == [baselines.Measurement.ERROR] * 5


class ScriptedArgo(baselines.ArgoRunner):
    """Argo whose measurements follow a script (to test the limits alone)."""

    def __init__(self, phases: list[baselines.Measurement]) -> None:
        super().__init__()
        self.script = list(phases)

    def evaluate(self, world: object) -> baselines.Measurement:  # type: ignore[override]
        return self.script.pop(0) if self.script else baselines.Measurement.SUCCESSFUL


def test_argo_successful_measurement_resets_consecutive_errors() -> None:
    """Six errors broken by a success never make five in a row: no abort."""
    e, ok = baselines.Measurement.ERROR, baselines.Measurement.SUCCESSFUL
    runner = ScriptedArgo([e, e, e, ok, e, e, e])
    drive(runner, FakeWorld(healthy))
    assert runner.outcome is harness.Outcome.PROMOTED
    runner = ScriptedArgo([e, e, e, e, e])
    drive(runner, FakeWorld(healthy))
    assert runner.outcome is harness.Outcome.ROLLED_BACK


def test_argo_errors_do_not_count_as_failures() -> None:
    """Failures are counted apart from errors: 3 failed + errors stays under failureLimit."""
    e, f = baselines.Measurement.ERROR, baselines.Measurement.FAILED
    runner = ScriptedArgo([f, e, f, e, f, e])
    drive(runner, FakeWorld(healthy))
    assert runner.outcome is harness.Outcome.PROMOTED


@pytest.mark.parametrize(
    ("traffic", "expected"),
    [
        (silent, baselines.Measurement.ERROR),
        (lambda s: (10, 10), baselines.Measurement.ERROR),
        (lambda s: (100, 0) if s < 100 else (0, 0), baselines.Measurement.FAILED),
        (lambda s: (100, 6), baselines.Measurement.FAILED),
        (lambda s: (100, 5), baselines.Measurement.SUCCESSFUL),
        (healthy, baselines.Measurement.SUCCESSFUL),
    ],
    ids=["no-series", "no-success-series", "nan-window", "below-0.95", "exactly-0.95", "healthy"],
)
def test_argo_measurement_phases(traffic: Traffic, expected: baselines.Measurement) -> None:
    """Empty result → Error; 0/0 → Failed (NaN ≥ 0.95 is false); else vs 0.95."""
    fake = FakeWorld(traffic)
    fake.now = 900.0
    assert baselines.ArgoRunner().evaluate(fake) is expected  # type: ignore[arg-type]


def test_argo_starting_step_delays_the_analysis() -> None:
    """startingStep 2 (setWeight 40): the first measurement is at 10m."""
    runner = baselines.ArgoRunner(baselines.ArgoConfig(starting_step=2))
    drive(runner, FakeWorld(healthy))
    assert runner.measurements[0][0] == 600.0


# -- figures on real worlds (few seeds, tolerant bounds; the benchmark uses thousands) --

SEEDS = range(200)


def _summary(make: Callable[[], harness.Runner], name: str, **kw: float) -> harness.Summary:
    return harness.run_many(make, scenarios.get(name), SEEDS, **kw)  # type: ignore[arg-type]


def test_flagger_bad_5pct_figures() -> None:
    """~18 failed requests (1000 seeds: 17.9), rollback after ~8 min from detection."""
    s = _summary(baselines.FlaggerRunner, "bad-5pct")
    assert s.share(harness.Outcome.ROLLED_BACK) == 1.0
    assert 15.0 <= s.failed_requests().mean() <= 21.0
    assert 450.0 <= s.times_to_rollback().mean() <= 520.0


def test_flagger_reproduces_published_estimate_without_delay() -> None:
    """No scrape delay, counted from the first shift: ~16 failed, ~6.8 min (research note)."""

    def make() -> harness.Runner:
        return baselines.FlaggerRunner(baselines.FlaggerConfig(initialize_tick=False))

    s = _summary(make, "bad-5pct", scrape_delay=0.0)
    assert 13.5 <= s.failed_requests().mean() <= 18.5
    assert 14.0 <= float(np.median(s.failed_requests())) <= 17.0
    assert 6.4 <= s.times_to_rollback().mean() / 60.0 <= 7.2


def test_flagger_bad_100pct_serves_about_180_failed() -> None:
    """Six minutes at 5% of 10 rps, all failing."""
    s = _summary(baselines.FlaggerRunner, "bad-100pct")
    assert 170.0 <= s.failed_requests().mean() <= 190.0
    assert set(s.times_to_rollback().tolist()) == {420.0}


def test_flagger_good_promotes_in_about_12_minutes_without_false_rollback() -> None:
    """100% at 12 min from detection (11 from the first shift); no false rollback at p0 0.1%."""
    s = _summary(baselines.FlaggerRunner, "good")
    assert s.share(harness.Outcome.PROMOTED) == 1.0
    assert 720.0 <= s.times_to_promote().mean() <= 760.0


def test_argo_figures() -> None:
    """bad-1pct promoted, bad-5pct ~half, bad-100pct ~3,600 failed at 20 min, good 40 min."""
    assert _summary(baselines.ArgoRunner, "bad-1pct").share(harness.Outcome.PROMOTED) >= 0.98
    half = _summary(baselines.ArgoRunner, "bad-5pct").share(harness.Outcome.PROMOTED)
    assert 0.38 <= half <= 0.62
    worst = _summary(baselines.ArgoRunner, "bad-100pct")
    assert 3450.0 <= worst.failed_requests().mean() <= 3750.0
    assert set(worst.times_to_rollback().tolist()) == {1200.0}
    assert set(_summary(baselines.ArgoRunner, "good").times_to_promote().tolist()) == {2400.0}
