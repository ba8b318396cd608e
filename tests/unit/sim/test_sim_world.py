"""World: traffic statistics, routing, the scrape delay and the latency queries."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rollout.sim import scenarios, world

HOUR = 3600.0


def _world(name: str = "good", *, seed: int = 7, **kwargs: float) -> world.World:
    return world.World(scenarios.get(name), seed=seed, **kwargs)  # type: ignore[arg-type]


# -- traffic statistics ------------------------------------------------------------------


def test_arrival_rate_over_an_hour_matches_rps() -> None:
    """Total requests over an hour ≈ rps × 3600 (per-minute noise CV 0.1 included)."""
    w = _world(rps=10.0)
    w.advance(HOUR, 0.5)
    total = w.oracle_counts("canary", 0, HOUR)[0] + w.oracle_counts("stable", 0, HOUR)[0]
    # sd ≈ sqrt(60 × (600 + 600² × 0.01)) ≈ 500 requests: 6% is ~4 sd.
    assert total == pytest.approx(36_000, rel=0.06)


def test_weight_splits_requests_binomially() -> None:
    """A 25% weight sends ≈ 25% of requests to the canary."""
    w = _world()
    w.advance(HOUR, 0.25)
    canary = w.oracle_counts("canary", 0, HOUR)[0]
    stable = w.oracle_counts("stable", 0, HOUR)[0]
    assert canary / (canary + stable) == pytest.approx(0.25, abs=0.01)


def test_canary_error_rate_matches_scenario() -> None:
    """bad-5pct at 100%: ≈ 5% canary errors over an hour (sd ≈ 0.0011)."""
    w = _world("bad-5pct")
    w.advance(HOUR, 1.0)
    requests, errors = w.oracle_counts("canary", 0, HOUR)
    assert errors / requests == pytest.approx(0.05, abs=0.005)
    assert w.canary_failed == errors
    assert w.canary_requests == requests


def test_stable_error_rate_is_p0() -> None:
    """The stable fails at p0: ≈ 36 errors in 36,000 requests at p0 = 0.1%."""
    w = _world(p0=0.001)
    w.advance(HOUR, 0.0)
    requests, errors = w.oracle_counts("stable", 0, HOUR)
    assert 12 <= errors <= 64
    assert errors / requests == pytest.approx(0.001, abs=0.0008)


def test_weight_zero_sends_nothing_to_the_canary() -> None:
    """At weight 0 the canary serves no request and so fails none."""
    w = _world("bad-100pct")
    w.advance(600.0, 0.0)
    assert w.oracle_counts("canary", 0, 600) == (0, 0)
    assert w.canary_failed == 0
    assert w.oracle_counts("stable", 0, 600)[0] > 0


def test_weight_one_sends_everything_to_the_canary() -> None:
    """At weight 1 the stable serves no request."""
    w = _world()
    w.advance(600.0, 1.0)
    assert w.oracle_counts("stable", 0, 600) == (0, 0)
    assert w.canary_requests > 0


def test_noisy_good_minutes_vary_with_cv_one() -> None:
    """noisy-good: per-minute request counts have a CV near 1 (shared gamma noise)."""
    w = _world("noisy-good", rps=50.0)
    w.advance(600 * 60.0, 0.5)
    minutes = np.array(
        [
            w.oracle_counts("canary", 60 * m, 60 * (m + 1))[0]
            + w.oracle_counts("stable", 60 * m, 60 * (m + 1))[0]
            for m in range(600)
        ],
        dtype=np.float64,
    )
    assert minutes.std() / minutes.mean() == pytest.approx(1.0, abs=0.15)


def test_incident_raises_both_revisions() -> None:
    """incident-good: ≈ 3% errors on both revisions inside the incident only."""
    w = _world("incident-good", rps=100.0)
    w.advance(600.0, 0.5)
    for revision in ("canary", "stable"):
        requests, errors = w.oracle_counts(revision, 120, 420)
        assert errors / requests == pytest.approx(0.03, abs=0.006)
        requests, errors = w.oracle_counts(revision, 420, 600)
        assert errors / requests < 0.006


# -- clock, seeds and the scrape delay ---------------------------------------------------


def test_same_seed_same_traffic_and_different_seeds_differ() -> None:
    """Reproducible for a seed; independent across seeds."""
    a, b, c = _world(seed=1), _world(seed=1), _world(seed=2)
    for w in (a, b, c):
        w.advance(300.0, 0.3)
        w.advance(600.0, 0.6)
    assert a.oracle_counts("canary", 0, 600) == b.oracle_counts("canary", 0, 600)
    assert a.latency_sample("stable", 0, 600, 100).tolist() == (
        b.latency_sample("stable", 0, 600, 100).tolist()
    )
    assert a.oracle_counts("canary", 0, 600) != c.oracle_counts("canary", 0, 600)


def test_arrivals_do_not_depend_on_the_weights() -> None:
    """Common random numbers: a seed's total arrivals are the same whatever the policy."""
    a, b = _world(seed=3), _world(seed=3)
    a.advance(600.0, 0.05)
    for t in range(7, 600, 7):
        b.advance(float(t), 0.9)
    b.advance(600.0, 0.9)

    def total(w: world.World, s: int) -> int:
        return w.oracle_counts("canary", s, s + 1)[0] + w.oracle_counts("stable", s, s + 1)[0]

    assert [total(a, s) for s in range(600)] == [total(b, s) for s in range(600)]


def test_scrape_delay_hides_the_last_seconds() -> None:
    """Only data older than now − scrape_delay is visible to queries."""
    w = _world(rps=100.0, scrape_delay=10.0)
    w.advance(100.0, 0.5)
    assert w.counts("stable", 90, 100) == (0, 0)
    assert w.oracle_counts("stable", 90, 100)[0] > 0
    assert w.counts("stable", 0, 100) == w.oracle_counts("stable", 0, 90)
    assert w.latency_quantile("stable", 90, 100, 0.5) is None
    assert w.latency_sample("stable", 90, 100, 10).size == 0


def test_zero_scrape_delay_sees_everything() -> None:
    """With no delay the backend answers the truth."""
    w = _world(scrape_delay=0.0)
    w.advance(100.0, 0.5)
    assert w.counts("canary", 0, 100) == w.oracle_counts("canary", 0, 100)


def test_queries_never_see_the_future() -> None:
    """A window past now is clipped to now (and to now − delay)."""
    w = _world(scrape_delay=0.0)
    w.advance(50.0, 0.5)
    assert w.counts("stable", 0, 1e9) == w.oracle_counts("stable", 0, 50)


def test_weight_change_at_a_fractional_time_applies_from_the_next_second() -> None:
    """Second s is drawn with the weight in force at its start."""
    w = _world(rps=1000.0, scrape_delay=0.0)
    w.advance(10.5, 0.0)
    w.advance(20.0, 1.0)
    assert w.oracle_counts("canary", 0, 11) == (0, 0)
    assert w.oracle_counts("stable", 11, 20) == (0, 0)
    assert w.oracle_counts("canary", 11, 20)[0] > 0


def test_clock_cannot_go_back_and_weight_must_be_a_share() -> None:
    """Misuse raises instead of silently drawing nonsense."""
    w = _world()
    w.advance(10.0, 0.1)
    with pytest.raises(ValueError, match="back in time"):
        w.advance(5.0, 0.1)
    with pytest.raises(ValueError, match="not in"):
        w.advance(20.0, 1.5)
    assert w.now == 10.0


# -- latency -----------------------------------------------------------------------------


def test_latency_is_lognormal_median_100ms_p99_300ms() -> None:
    """Stable latency quantiles over an hour: p50 ≈ 100 ms, p99 ≈ 300 ms."""
    w = _world(scrape_delay=0.0)
    w.advance(HOUR, 0.0)
    p50 = w.latency_quantile("stable", 0, HOUR, 0.5)
    p90 = w.latency_quantile("stable", 0, HOUR, 0.9)
    p99 = w.latency_quantile("stable", 0, HOUR, 0.99)
    assert p50 == pytest.approx(0.1, rel=0.03)
    assert p90 == pytest.approx(0.1 * math.exp(world.LATENCY_SIGMA * 1.2816), rel=0.04)
    assert p99 == pytest.approx(0.3, rel=0.08)


def test_canary_latency_factor_scales_its_latencies() -> None:
    """latency-1.5x: the canary's median is 1.5 × the stable's."""
    w = _world("latency-1.5x", scrape_delay=0.0)
    w.advance(HOUR, 0.5)
    assert w.latency_quantile("canary", 0, HOUR, 0.5) == pytest.approx(0.15, rel=0.04)
    assert w.latency_quantile("stable", 0, HOUR, 0.5) == pytest.approx(0.10, rel=0.04)


def test_latency_storage_is_bounded_per_second() -> None:
    """At most `latency_samples_per_second` samples are kept per second and revision."""
    w = world.World(scenarios.get("good"), seed=1, rps=500.0, latency_samples_per_second=8)
    w.advance(100.0, 0.5)
    kept = w.latency_sample("stable", 0, 100, 10_000)
    assert kept.size == 8 * 90  # 90 visible seconds, each with ≥ 8 stable requests


def test_latency_sample_is_capped_and_empty_without_data() -> None:
    """`max_n` caps the sample; no traffic gives an empty sample and no quantile."""
    w = _world()
    w.advance(300.0, 0.0)
    assert w.latency_sample("stable", 0, 300, 50).size == 50
    assert w.latency_sample("canary", 0, 300, 50).size == 0
    assert w.latency_quantile("canary", 0, 300, 0.99) is None
    with pytest.raises(ValueError, match="quantile"):
        w.latency_quantile("stable", 0, 300, 99.0)


# -- the stable's history before the release --------------------------------------------


def test_history_rate_and_errors_match_rps_and_p0() -> None:
    """The hour before 0: all traffic on the stable, at rps and p0."""
    w = _world(rps=10.0, p0=0.01)
    w.advance(20.0, 0.0)

    requests, errors = w.history_counts(-HOUR, 0.0)

    assert requests == pytest.approx(36_000, rel=0.06)
    assert errors == pytest.approx(360, rel=0.2)  # sd ≈ 19


def test_history_does_not_depend_on_what_is_asked_first() -> None:
    """Windows are the same whether the far past or the recent past is drawn first."""
    a, b = _world(), _world()
    a.advance(20.0, 0.0)
    b.advance(20.0, 0.0)

    far_first = (a.history_counts(-2 * HOUR, -HOUR), a.history_counts(-600.0, 0.0))
    near_first = (b.history_counts(-600.0, 0.0), b.history_counts(-2 * HOUR, -HOUR))

    assert far_first == near_first[::-1]


def test_reading_the_history_leaves_the_release_traffic_unchanged() -> None:
    """Common random numbers: the history has its own stream."""
    plain, reader = _world(), _world()
    reader.history_counts(-HOUR, 0.0)
    for w in (plain, reader):
        w.advance(600.0, 0.25)

    assert plain.oracle_counts("canary", 0, 600) == reader.oracle_counts("canary", 0, 600)
    assert plain.oracle_counts("stable", 0, 600) == reader.oracle_counts("stable", 0, 600)


def test_history_ends_at_the_release_and_behind_the_scrape_delay() -> None:
    """Nothing at or after 0 is history; at t = 0 the last delay's seconds are hidden."""
    w = _world(scrape_delay=10.0)

    assert w.history_counts(-60.0, 0.0) == w.history_counts(-60.0, -10.0)
    w.advance(30.0, 0.0)
    assert w.history_counts(-60.0, 60.0) == w.history_counts(-60.0, 0.0)
    assert w.history_counts(0.0, 60.0) == (0, 0)
