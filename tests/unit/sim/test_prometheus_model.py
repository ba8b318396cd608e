"""The simulator's Prometheus model (issue 16's benchmark): counters seen only at
scrape instants, increments that chain without loss or double counting, the bound of
slow requests rounded up to a histogram bucket, and no latency samples."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollout.api import policyspec
from rollout.sim import readings, scenarios, world

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def prometheus_world(seed: int = 3, scenario: str = "good") -> world.World:
    return world.World(
        scenarios.get(scenario), seed=seed, rps=20.0, scrape_delay=0.0,
        prometheus=world.Prometheus(scrape_interval=15.0, query_delay=15.0),
    )  # fmt: skip


def test_a_window_is_counted_between_the_scrapes_before_its_ends() -> None:
    w = prometheus_world()
    w.advance(300.0, 0.5)
    phase = w._scrape_phase  # the seed's own phase in [0, 15)
    assert 0.0 <= phase < 15.0
    seen = w.counts("canary", 100.0, 200.0)
    first = phase + ((100.0 - phase) // 15) * 15
    last = phase + ((200.0 - phase) // 15) * 15
    assert seen == w.oracle_counts("canary", float(int(first)), float(int(last)))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=0.5, max_value=40.0), min_size=2, max_size=25))
def test_increments_read_at_any_times_chain_to_the_total(gaps: list[float]) -> None:
    w = prometheus_world(seed=11)
    since, total = 0.0, 0
    for gap in gaps:
        w.advance(w.now + gap, 0.3)
        requests, _ = w.counts("canary", since, w.now)
        total += requests
        since = w.now
    w.advance(w.now + 30.0, 0.3)
    requests, _ = w.counts("canary", since, w.now)
    counted = total + requests
    # never more than was served (nothing counted twice), and everything before the last
    # scrape (at most 15 s back) counted (nothing lost between readings)
    assert counted <= w.canary_requests
    assert counted >= w.oracle_counts("canary", 0.0, w.now - 16.0)[0]


def metric(stat: str, compare: dict[str, object]) -> policyspec.Metric:
    return policyspec.Metric.model_validate(
        {"name": "m", "provider": {"local": {"stat": stat}}, "compare": compare}
    )


def test_slow_requests_are_counted_against_a_bucket_bound_on_prometheus() -> None:
    w = prometheus_world(scenario="latency-1.5x")
    w.advance(400.0, 0.5)
    reading = readings.read(
        metric("latency_p90", {"method": "sequential"}), w, origin=EPOCH, measured_until=None
    )
    assert reading.slower_than == pytest.approx(0.25)  # the stable's p90 (0.18 s), rounded up
    assert reading.canary is not None
    assert reading.stable is not None
    canary_share = reading.canary.errors / reading.canary.requests
    stable_share = reading.stable.errors / reading.stable.requests
    assert canary_share > 3 * stable_share  # 1.5 times slower: ~14% above 250 ms vs ~2.6%


def test_the_local_model_keeps_the_stables_quantile_as_the_bound() -> None:
    w = world.World(scenarios.get("good"), seed=1)
    w.advance(120.0, 0.5)
    reading = readings.read(
        metric("latency_p90", {"method": "sequential"}), w, origin=EPOCH, measured_until=None
    )
    assert reading.slower_than == pytest.approx(w.history_latency_quantile(0.9))
    kept = readings.read(
        metric("latency_p90", {"method": "sequential"}), w, origin=EPOCH,
        measured_until=None, slower_than=0.3,
    )  # fmt: skip
    assert kept.slower_than == 0.3


def test_mann_whitney_reads_nothing_from_prometheus() -> None:
    w = prometheus_world()
    w.advance(120.0, 0.5)
    reading = readings.read(
        metric("latency_p50", {"method": "mann-whitney"}), w, origin=EPOCH, measured_until=None
    )
    assert reading.error is not None
    assert "not in Prometheus" in reading.error


def test_history_slow_counts_are_the_same_for_the_same_question() -> None:
    w = world.World(scenarios.get("good"), seed=5)
    first = w.history_slow_counts(-3600.0, 0.0, 0.2)
    assert first == w.history_slow_counts(-3600.0, 0.0, 0.2)
    requests, slow = first
    assert 0.05 < slow / requests < 0.13  # ~9% of log-normal latencies exceed 0.2 s
