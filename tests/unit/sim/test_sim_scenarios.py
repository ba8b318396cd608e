"""Scenarios: the named set of issue 3 and their per-second error rates."""

from __future__ import annotations

import numpy as np
import pytest

from rollout.sim import scenarios

P0 = 0.001


def _rates(name: str, seconds: list[int]) -> tuple[list[float], list[float]]:
    canary, stable = scenarios.get(name).error_rates(np.array(seconds, dtype=np.int64), p0=P0)
    return canary.tolist(), stable.tolist()


def test_named_scenarios_are_those_of_issue_3() -> None:
    """Exactly the scenarios the issue names, each under its own name."""
    assert set(scenarios.SCENARIOS) == {
        "good",
        "bad-1pct",
        "bad-5pct",
        "bad-20pct",
        "bad-100pct",
        "latency-1.5x",
        "noisy-good",
        "incident-good",
        "late-bug",
    }
    assert all(name == s.name for name, s in scenarios.SCENARIOS.items())


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("good", False),
        ("noisy-good", False),
        ("incident-good", False),
        ("bad-1pct", True),
        ("bad-100pct", True),
        ("latency-1.5x", True),
        ("late-bug", True),
    ],
)
def test_bad_flag_scores_detection_or_false_rollback(name: str, bad: bool) -> None:
    """Regressions are flagged bad; the good variants are not."""
    assert scenarios.get(name).bad is bad


@pytest.mark.parametrize(
    ("name", "rate"),
    [("bad-1pct", 0.01), ("bad-5pct", 0.05), ("bad-20pct", 0.2), ("bad-100pct", 1.0)],
)
def test_bad_canaries_have_absolute_error_rates(name: str, rate: float) -> None:
    """bad-Npct: the canary fails N% from the start; the stable stays at p0."""
    canary, stable = _rates(name, [0, 59, 3000])
    assert canary == [rate] * 3
    assert stable == [P0] * 3


def test_good_canary_errs_like_stable() -> None:
    """good: both revisions at the baseline rate."""
    assert _rates("good", [0, 1000]) == ([P0, P0], [P0, P0])


def test_incident_hits_both_revisions_from_minute_2_for_5_minutes() -> None:
    """incident-good: 3% on both in [120 s, 420 s), p0 outside."""
    canary, stable = _rates("incident-good", [119, 120, 419, 420])
    assert canary == [P0, 0.03, 0.03, P0]
    assert stable == [P0, 0.03, 0.03, P0]


def test_late_bug_turns_bad_at_minute_5() -> None:
    """late-bug: the canary is good until 300 s, then fails 5%."""
    canary, stable = _rates("late-bug", [299, 300, 900])
    assert canary == [P0, 0.05, 0.05]
    assert stable == [P0, P0, P0]


def test_latency_and_noise_knobs() -> None:
    """latency-1.5x slows the canary; noisy-good has CV 1 traffic, others the default."""
    assert scenarios.get("latency-1.5x").latency_factor == 1.5
    assert scenarios.get("noisy-good").traffic_cv == 1.0
    assert scenarios.get("good").traffic_cv == scenarios.DEFAULT_TRAFFIC_CV


def test_unknown_scenario_lists_known_names() -> None:
    """A typo gets the list of valid names."""
    with pytest.raises(KeyError, match="bad-5pct"):
        scenarios.get("bad-6pct")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"canary_error_rate": 1.5}, "not a probability"),
        ({"latency_factor": 0.0}, "latency factor"),
        ({"traffic_cv": -0.1}, "traffic CV"),
    ],
    ids=["rate>1", "latency0", "negative-cv"],
)
def test_invalid_scenarios_are_refused(kwargs: dict[str, float], message: str) -> None:
    """Nonsense parameters raise at construction."""
    with pytest.raises(ValueError, match=message):
        scenarios.Scenario(name="x", bad=True, description="x", **kwargs)  # type: ignore[arg-type]


def test_incident_window_must_not_be_empty() -> None:
    """An incident ending before it starts is refused."""
    with pytest.raises(ValueError, match="empty"):
        scenarios.Incident(start_s=10.0, end_s=10.0, rate=0.03)
