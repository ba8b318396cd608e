"""`evaluate.evaluate`: one reading of one metric → a verdict with its reason.

A table per gate (thresholds, sequential comparison, Mann-Whitney), then the
combination of gates: the worst verdict wins and an early pass needs every gate.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from rollout.analysis import evaluate, measurement, sequential
from rollout.api import policyspec
from rollout.api.release import Verdict

AT = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
PROVIDER = {"local": {"stat": "error_rate"}}
SEQUENTIAL = {"against": "stable", "method": "sequential", "alpha": 0.01, "maxRatio": 2}
MANN_WHITNEY = {"against": "stable", "method": "mann-whitney", "alpha": 0.01, "maxRatio": 1.2}


PROMETHEUS = {
    "prometheus": {
        "address": "http://127.0.0.1:9090",
        "query": "q",
        "counts": {"requests": "r", "errors": "e"},
    }
}


def metric(provider: Any = PROVIDER, **fields: Any) -> policyspec.Metric:
    return policyspec.Metric.model_validate({"name": "m", "provider": provider, **fields})


def reading(**fields: Any) -> measurement.Measurement:
    return measurement.Measurement("m", AT, **fields)


def split(canary: tuple[int, int], stable: tuple[int, int]) -> measurement.Measurement:
    """A reading of (requests, errors) of both revisions."""
    return reading(canary=measurement.Counts(*canary), stable=measurement.Counts(*stable))


MAX = metric(thresholds={"max": 0.01})
MIN = metric(thresholds={"min": 0.99})
MIN_SAMPLES = metric(thresholds={"max": 0.01}, minSamples=50)
COMPARE = metric(compare=SEQUENTIAL)
LATENCY = metric({"local": {"stat": "latency_p50"}}, compare=MANN_WHITNEY)
BOTH = metric(PROMETHEUS, thresholds={"max": 0.01}, compare=SEQUENTIAL)

RNG = np.random.default_rng(7)
FAST = tuple(float(v) for v in RNG.lognormal(math.log(0.1), 0.3, 200))
SLOW = tuple(3 * v for v in FAST)
SAME = tuple(float(v) for v in RNG.lognormal(math.log(0.1), 0.3, 200))

# Errors split exactly by traffic (10% canary), enough of them to rule out a ratio > 2.
RULED_OUT = split((4000, 40), (36000, 360))

CASES = [
    # --- thresholds ----------------------------------------------------------------
    pytest.param(
        MAX, reading(value=0.005), Verdict.PASSED, "0.005 within thresholds", id="max-passed"
    ),
    pytest.param(MAX, reading(value=0.01), Verdict.PASSED, "within thresholds", id="max-boundary"),
    pytest.param(MAX, reading(value=0.02), Verdict.FAILED, "0.02 > max 0.01", id="max-failed"),
    pytest.param(MIN, reading(value=0.995), Verdict.PASSED, "within thresholds", id="min-passed"),
    pytest.param(MIN, reading(value=0.95), Verdict.FAILED, "0.95 < min 0.99", id="min-failed"),
    pytest.param(MAX, reading(), Verdict.INCONCLUSIVE, "no data", id="no-data"),
    pytest.param(MAX, reading(value=math.nan), Verdict.INCONCLUSIVE, "no data", id="nan"),
    pytest.param(
        MIN_SAMPLES,
        reading(value=0.5, samples=49),
        Verdict.INCONCLUSIVE,
        "49 requests < minSamples 50",
        id="min-samples-bad-value",
    ),
    pytest.param(
        MIN_SAMPLES,
        reading(value=0.5, samples=50),
        Verdict.FAILED,
        "0.5 > max 0.01",
        id="min-samples-reached",
    ),
    pytest.param(
        MAX,
        reading(value=0.5, error="connection refused"),
        Verdict.ERROR,
        "provider error: connection refused",
        id="provider-error",
    ),
    # --- sequential comparison -----------------------------------------------------
    pytest.param(
        COMPARE,
        split((50, 5), (950, 1)),
        Verdict.FAILED,
        "canary errors exceed stable's",
        id="sequential-failed",
    ),
    pytest.param(
        COMPARE,
        split((100, 1), (900, 9)),
        Verdict.PASSED,
        "no evidence of a regression",
        id="sequential-passed",
    ),
    pytest.param(
        COMPARE, RULED_OUT, Verdict.PASSED, "ratio ≤ 2 shown", id="sequential-passed-early"
    ),
    pytest.param(
        COMPARE,
        split((0, 0), (1000, 30)),
        Verdict.INCONCLUSIVE,
        "no canary requests yet",
        id="sequential-no-canary-requests",
    ),
    pytest.param(
        COMPARE, reading(), Verdict.INCONCLUSIVE, "no request counts", id="sequential-no-counts"
    ),
    pytest.param(
        COMPARE,
        reading(error="bad query", canary=measurement.Counts(50, 5)),
        Verdict.ERROR,
        "provider error: bad query",
        id="sequential-provider-error",
    ),
    # --- Mann-Whitney -----------------------------------------------------------------
    pytest.param(
        LATENCY,
        reading(canary_values=SLOW, stable_values=FAST),
        Verdict.FAILED,
        "canary slower than 1.2× stable",
        id="mann-whitney-slower",
    ),
    pytest.param(
        LATENCY,
        reading(canary_values=SAME, stable_values=FAST),
        Verdict.PASSED,
        "not slower than 1.2× stable",
        id="mann-whitney-equal",
    ),
    pytest.param(
        LATENCY,
        reading(canary_values=SLOW[:10], stable_values=FAST),
        Verdict.INCONCLUSIVE,
        "10 canary / 200 stable samples < 20",
        id="mann-whitney-too-few",
    ),
    # --- several gates: the worst verdict -------------------------------------------
    pytest.param(
        BOTH,
        reading(value=0.02, canary=RULED_OUT.canary, stable=RULED_OUT.stable),
        Verdict.FAILED,
        "0.02 > max 0.01; ratio ≤ 2 shown",
        id="worst-threshold-failed",
    ),
    pytest.param(
        BOTH,
        reading(canary=measurement.Counts(50, 5), stable=measurement.Counts(950, 1)),
        Verdict.FAILED,
        "no data; canary errors exceed stable's",
        id="worst-sequential-failed",
    ),
    pytest.param(
        BOTH,
        reading(value=0.001),
        Verdict.INCONCLUSIVE,
        "within thresholds; no request counts",
        id="worst-inconclusive",
    ),
    pytest.param(
        BOTH,
        reading(value=0.001, canary=RULED_OUT.canary, stable=RULED_OUT.stable),
        Verdict.PASSED,
        "0.001 within thresholds; ratio ≤ 2 shown",
        id="both-passed",
    ),
]


@pytest.mark.parametrize(("gated", "measured", "verdict", "reason"), CASES)
def test_verdict_and_reason(
    gated: policyspec.Metric, measured: measurement.Measurement, verdict: Verdict, reason: str
) -> None:
    """The verdict of one reading, with a reason a user can read."""
    result = evaluate.evaluate(gated, measured, None)

    assert result.verdict is verdict
    assert reason in result.reason


@pytest.mark.parametrize(
    ("gated", "measured", "early"),
    [
        pytest.param(COMPARE, RULED_OUT, True, id="sequential-ruled-out"),
        pytest.param(COMPARE, split((100, 1), (900, 9)), False, id="sequential-too-little"),
        pytest.param(
            BOTH,
            reading(value=0.001, canary=RULED_OUT.canary, stable=RULED_OUT.stable),
            True,
            id="both-passed",
        ),
        pytest.param(
            BOTH,
            reading(value=0.02, canary=RULED_OUT.canary, stable=RULED_OUT.stable),
            False,
            id="threshold-failed",
        ),
        pytest.param(
            BOTH,
            reading(canary=RULED_OUT.canary, stable=RULED_OUT.stable),
            False,
            id="threshold-no-data",
        ),
        pytest.param(MAX, reading(value=0.001), False, id="threshold-only"),
    ],
)
def test_passed_early_needs_every_gate(
    gated: policyspec.Metric, measured: measurement.Measurement, early: bool
) -> None:
    """passed_early: the comparison ruled out maxRatio and no other gate objects."""
    assert evaluate.evaluate(gated, measured, None).passed_early is early


def test_sequential_evidence_accumulates_across_readings() -> None:
    """Each reading is an increment: the evidence sums them and can fail on the sum."""
    first = evaluate.evaluate(COMPARE, split((25, 2), (475, 1)), None)
    assert first.verdict is Verdict.PASSED
    assert first.evidence is not None

    second = evaluate.evaluate(COMPARE, split((25, 3), (475, 0)), first.evidence)

    assert second.evidence is not None
    assert second.evidence.canary == measurement.Counts(50, 5)
    assert second.evidence.stable == measurement.Counts(950, 1)
    assert second.verdict is Verdict.FAILED


def test_error_keeps_the_evidence() -> None:
    """A provider error neither updates nor drops the sequential evidence."""
    evidence = evaluate.evaluate(COMPARE, split((100, 1), (900, 9)), None).evidence

    result = evaluate.evaluate(COMPARE, reading(error="timeout"), evidence)

    assert result.evidence == evidence


def test_sequential_failed_value_is_the_e_value() -> None:
    """The value of a sequential verdict is its fail e-value, at least 1/alpha on failure."""
    result = evaluate.evaluate(COMPARE, split((50, 5), (950, 1)), None)
    assert result.evidence is not None
    g = sequential.grid(2)

    assert result.value == pytest.approx(math.exp(sequential.fail_log_e(result.evidence, g)))
    assert result.value is not None
    assert result.value >= 100
