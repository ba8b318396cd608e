"""`readings.read`: what a sequential comparison reads from the simulated world."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rollout.analysis import measurement
from rollout.api import policyspec
from rollout.sim import readings, scenarios, world

ORIGIN = datetime(2026, 1, 1, tzinfo=UTC)


def metric(**compare: object) -> policyspec.Metric:
    return policyspec.Metric.model_validate(
        {
            "name": "errors-vs-stable",
            "provider": {"local": {"stat": "errors"}},
            "compare": {"against": "stable", "method": "sequential", **compare},
        }
    )


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        pytest.param(None, None, id="without-history"),
        pytest.param("30m", (-1800.0, 0.0), id="history-30m"),
    ],
)
def test_sequential_reading_carries_the_history_only_when_asked(
    history: str | None, expected: tuple[float, float] | None
) -> None:
    """`baseline` is the stable's counts over the history window before time 0."""
    w = world.World(scenarios.get("good"), seed=3)
    w.advance(60.0, 0.05)
    extra = {"history": history} if history else {}

    reading = readings.read(metric(**extra), w, origin=ORIGIN, measured_until=None)

    assert reading.canary is not None
    assert reading.stable is not None
    if expected is None:
        assert reading.baseline is None
    else:
        assert reading.baseline == measurement.Counts(*w.history_counts(*expected))
        assert reading.baseline.requests > 0


def test_history_window_is_the_same_at_every_reading() -> None:
    """Later readings carry the same baseline; the increments move on."""
    w = world.World(scenarios.get("good"), seed=3)
    w.advance(60.0, 0.05)
    first = readings.read(metric(history="30m"), w, origin=ORIGIN, measured_until=None)
    w.advance(120.0, 0.05)

    second = readings.read(metric(history="30m"), w, origin=ORIGIN, measured_until=first.until)

    assert second.baseline == first.baseline
    assert second.until == ORIGIN + timedelta(seconds=110)
