"""`assess`: readings folded into metric statuses, and the gate of a step over them.

failureLimit with Argo's off-by-one (fail when failures exceed it), per-metric
overrides, inconclusiveLimit for gating metrics only, the consecutive-error limit,
what "passed" and "early" need, and what a new step keeps.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rollout.analysis import assess, measurement
from rollout.api import policyspec
from rollout.api.release import MetricStatus, Verdict

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
PROVIDER = {"local": {"stat": "error_rate"}}


def analysis(*metrics: dict[str, Any], **limits: Any) -> policyspec.Analysis:
    """An analysis with threshold metrics `max 0.01` unless a metric says otherwise."""
    return policyspec.Analysis.model_validate(
        {
            "failureLimit": 1,
            "inconclusiveLimit": 2,
            "consecutiveErrorLimit": 2,
            **limits,
            "metrics": [
                {"provider": PROVIDER, "thresholds": {"max": 0.01}, **metric} for metric in metrics
            ],
        }
    )


A = {"name": "a"}
B = {"name": "b"}
SEQ = {
    "name": "seq",
    "thresholds": None,
    "compare": {"against": "stable", "method": "sequential", "alpha": 0.01, "maxRatio": 2},
}


def passing(name: str = "a", i: int = 0) -> measurement.Measurement:
    return measurement.Measurement(name, T0 + timedelta(seconds=i), value=0.001, samples=100)


def failed(name: str = "a", i: int = 0) -> measurement.Measurement:
    return measurement.Measurement(name, T0 + timedelta(seconds=i), value=0.05, samples=100)


def no_data(name: str = "a", i: int = 0) -> measurement.Measurement:
    return measurement.Measurement(name, T0 + timedelta(seconds=i))


def error(name: str = "a", i: int = 0) -> measurement.Measurement:
    return measurement.Measurement(name, T0 + timedelta(seconds=i), error="connection refused")


def counts(canary: tuple[int, int], stable: tuple[int, int], i: int = 0) -> measurement.Measurement:
    return measurement.Measurement(
        "seq",
        T0 + timedelta(seconds=i),
        canary=measurement.Counts(*canary),
        stable=measurement.Counts(*stable),
    )


def fold(
    policy: policyspec.Analysis, *readings: measurement.Measurement
) -> dict[str, MetricStatus]:
    return {s.metric: s for s in assess.fold(policy, [], readings)}


def gate_after(
    policy: policyspec.Analysis, gating: list[str], *readings: measurement.Measurement
) -> assess.Gate:
    return assess.gate(policy, assess.fold(policy, [], readings), gating)


# --- fold ---------------------------------------------------------------------------------


def test_fold_counts_verdicts_per_metric() -> None:
    """Each reading bumps its metric's counter for its verdict; the last one is shown."""
    policy = analysis(A, B)

    statuses = fold(policy, passing("a", 1), failed("a", 2), no_data("b", 3), error("a", 4))

    a, b = statuses["a"], statuses["b"]
    assert (a.measurements, a.passes, a.failures, a.errors) == (3, 1, 1, 1)
    assert (a.verdict, a.at, a.reason) == (
        Verdict.ERROR,
        T0 + timedelta(seconds=4),
        "provider error: connection refused",
    )
    assert (b.measurements, b.inconclusive, b.verdict) == (1, 1, Verdict.INCONCLUSIVE)


def test_fold_returns_every_metric_in_policy_order_and_skips_unknown() -> None:
    """A reading of an unknown metric is ignored; metrics without readings get a status."""
    policy = analysis(A, B)

    statuses = assess.fold(policy, [], [failed("zzz"), passing("b")])

    assert [s.metric for s in statuses] == ["a", "b"]
    assert statuses[0].measurements == 0
    assert statuses[1].passes == 1


def test_consecutive_errors_reset_by_a_reading_without_error() -> None:
    """Only errors in a row count: any other verdict resets the streak."""
    policy = analysis(A)

    streak = fold(policy, error(i=1), error(i=2), no_data(i=3), error(i=4))["a"]

    assert streak.errors == 3
    assert streak.consecutive_errors == 1


# --- gate: failures ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "failures", "fails"),
    [
        pytest.param(0, 1, True, id="limit-0-first-failure"),
        pytest.param(1, 1, False, id="limit-1-first-failure-tolerated"),
        pytest.param(1, 2, True, id="limit-1-second-failure"),
        pytest.param(3, 3, False, id="limit-3-third-tolerated"),
        pytest.param(3, 4, True, id="limit-3-fourth"),
    ],
)
def test_failure_limit_is_exceeded_not_reached(limit: int, failures: int, fails: bool) -> None:
    """A metric fails when its failed readings exceed failureLimit (Argo's meaning)."""
    policy = analysis(A, failureLimit=limit)

    gate = gate_after(policy, ["a"], *(failed(i=i) for i in range(failures)))

    assert bool(gate.failed) is fails
    assert not gate.passed


@pytest.mark.parametrize(("failures", "fails"), [(3, False), (4, True)])
def test_metric_failure_limit_overrides_the_analysis_one(failures: int, fails: bool) -> None:
    """A metric's own failureLimit replaces the analysis-wide one, for that metric only."""
    policy = analysis({**A, "failureLimit": 3}, B, failureLimit=1)

    gate = gate_after(policy, ["a", "b"], *(failed("a", i) for i in range(failures)))

    assert bool(gate.failed) is fails
    assert not gate_after(policy, [], failed("b", 1)).failed
    assert gate_after(policy, [], failed("b", 1), failed("b", 2)).failed


def test_failures_count_for_metrics_the_step_does_not_gate() -> None:
    """A failure rolls back wherever it happens: non-gating metrics fail the gate too."""
    policy = analysis(A, B)

    gate = gate_after(policy, ["a"], passing("a"), failed("b", 1), failed("b", 2))

    assert gate.failed == ("b: 0.05 > max 0.01",)
    assert not gate.passed


def test_failed_reason_is_the_failure_not_the_last_reading() -> None:
    """The reason of a failed metric explains the failure, even if a pass came after it."""
    policy = analysis(A)

    gate = gate_after(policy, ["a"], failed(i=1), failed(i=2), passing(i=3))

    assert len(gate.failed) == 1
    assert "0.05 > max 0.01" in gate.failed[0]


# --- gate: inconclusive and errors --------------------------------------------------------


@pytest.mark.parametrize(("count", "pauses"), [(2, False), (3, True)])
def test_inconclusive_limit_for_gating_metrics(count: int, pauses: bool) -> None:
    """More than inconclusiveLimit inconclusive readings of a gating metric: pause."""
    policy = analysis(A, B)
    readings = [no_data("a", i) for i in range(count)]

    gating = gate_after(policy, ["a"], *readings)
    not_gating = gate_after(policy, ["b"], *readings)

    assert bool(gating.inconclusive) is pauses
    assert not gating.failed
    assert not not_gating.inconclusive
    assert not not_gating.failed


@pytest.mark.parametrize(
    ("readings", "pauses"),
    [
        pytest.param([error(i=1), error(i=2)], False, id="at-limit"),
        pytest.param([error(i=1), error(i=2), error(i=3)], True, id="over-limit"),
        pytest.param([error(i=1), error(i=2), passing(i=3), error(i=4)], False, id="reset-by-pass"),
        pytest.param(
            [error(i=1), error(i=2), no_data(i=3), error(i=4)], False, id="reset-by-no-data"
        ),
    ],
)
def test_consecutive_error_limit(readings: list[measurement.Measurement], pauses: bool) -> None:
    """More than consecutiveErrorLimit errors in a row: pause; errors never pass."""
    gate = gate_after(analysis(A), ["a"], *readings)

    assert bool(gate.errors) is pauses
    assert not gate.failed
    if pauses:
        assert not gate.passed
        assert "connection refused" in gate.errors[0]


# --- gate: passed and early ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("gating", "readings", "passed"),
    [
        pytest.param(["a", "b"], [passing("a"), passing("b")], True, id="every-gating-passed"),
        pytest.param(["a", "b"], [passing("a")], False, id="one-without-reading"),
        pytest.param(["a", "b"], [passing("a"), no_data("b")], False, id="one-inconclusive"),
        pytest.param(["a"], [passing("a")], True, id="non-gating-ignored"),
        pytest.param(["a"], [passing("a", 1), failed("a", 2)], True, id="failure-within-limit"),
        pytest.param(["a"], [error("a", 1), passing("a", 2)], True, id="error-then-pass"),
        pytest.param(["a"], [passing("a", 1), error("a", 2)], False, id="latest-error"),
        pytest.param(
            ["a"], [passing("a", 1), no_data("a", 2), no_data("a", 3)], False, id="mostly-no-data"
        ),
        pytest.param(
            ["a"], [passing("a", 1), passing("a", 2), no_data("a", 3)], True, id="some-no-data"
        ),
        pytest.param(["a"], [passing("a", 1), no_data("a", 2)], True, id="half-no-data"),
        pytest.param(["a"], [], False, id="no-readings"),
    ],
)
def test_passed_needs_a_pass_of_every_gating_metric(
    gating: list[str], readings: list[measurement.Measurement], passed: bool
) -> None:
    """passed: at least one Passed reading per gating metric, nothing over a limit, the
    latest reading not an Error, and not mostly Inconclusive readings."""
    assert gate_after(analysis(A, B, inconclusiveLimit=5), gating, *readings).passed is passed


@pytest.mark.parametrize(
    ("min_samples", "readings", "passed"),
    [
        pytest.param(0, [counts((3, 0), (300, 1), 1)], True, id="floor-1-met"),
        pytest.param(
            0,
            [counts((3, 0), (300, 1), 1), counts((0, 0), (300, 0), 2)],
            False,
            id="the-latest-increment-saw-no-canary",
        ),
        pytest.param(
            0,
            [counts((3, 0), (300, 1), 1), counts((0, 0), (300, 0), 2), counts((1, 0), (99, 0), 3)],
            True,
            id="a-later-increment-sees-it-again",
        ),
        pytest.param(10, [counts((3, 0), (300, 1), 1)], False, id="under-min-samples"),
        pytest.param(
            10,
            [counts((6, 0), (300, 1), 1), counts((5, 0), (300, 1), 2)],
            True,
            id="increments-add-up",
        ),
    ],
)
def test_passed_needs_the_canary_to_have_served_min_samples_in_the_step(
    min_samples: int, readings: list[measurement.Measurement], passed: bool
) -> None:
    """A comparison passes a step only on at least max(minSamples, 1) canary requests
    served during it (the increments add up)."""
    policy = analysis({**SEQ, "minSamples": min_samples}, inconclusiveLimit=5)

    assert gate_after(policy, ["seq"], *readings).passed is passed


def test_a_comparison_without_new_canary_requests_is_inconclusive_not_passed() -> None:
    """The canary was dropped from the data plane: readings of its increments hold no
    canary request — Inconclusive, never Passed (found: a 60 s step passed on
    `canary 0/28`, the 28 requests all from the step before)."""
    policy = analysis(SEQ, inconclusiveLimit=5)
    before = assess.fold(policy, [], [counts((28, 0), (300, 1), 1)])
    step = assess.reset_step(before)

    statuses = assess.fold(policy, step, [counts((0, 0), (300, 0), i) for i in range(2, 8)])

    seq = statuses[0]
    assert (seq.verdict, seq.passes, seq.inconclusive) == (Verdict.INCONCLUSIVE, 0, 6)
    assert "no canary requests since the last reading" in seq.reason
    assert not assess.gate(policy, statuses, ["seq"]).passed


def test_quiet_readings_are_inconclusive_but_not_missing_data() -> None:
    """At 1% of a small service most intervals hold no canary request: those readings
    are Inconclusive (and count towards inconclusiveLimit), yet the step passes on the
    requests the canary did serve, once a look sees it again — unlike readings the
    provider had no data for."""
    policy = analysis(SEQ, inconclusiveLimit=20)
    quiet = [counts((0, 0), (100, 0), i) for i in (2, 3, 4)]
    statuses = assess.fold(policy, [], [counts((2, 0), (100, 0), 1), *quiet])

    seq = statuses[0]
    assert (seq.inconclusive, seq.quiet, seq.canary_requests) == (3, 3, 2)
    assert not assess.gate(policy, statuses, ["seq"]).passed  # the latest look saw none
    statuses = assess.fold(policy, statuses, [counts((1, 0), (100, 0), 4)])
    assert assess.gate(policy, statuses, ["seq"]).passed

    no_counts = [measurement.Measurement("seq", T0 + timedelta(seconds=i)) for i in (5, 6, 7, 8)]
    statuses = assess.fold(policy, statuses, no_counts)
    gate = assess.gate(policy, statuses, ["seq"])
    assert not gate.passed  # 4 of the 6 readings that were not quiet had no data
    assert not gate.inconclusive


def test_the_step_counts_canary_requests_and_a_new_step_starts_from_zero() -> None:
    """canaryRequests sums a comparison's increments, takes a window's largest count,
    and is zeroed for a new step."""
    policy = analysis(A, SEQ)
    statuses = assess.fold(
        policy,
        [],
        [counts((4, 0), (40, 0), 1), counts((6, 0), (60, 0), 2), passing("a", 3)],
    )
    by_name = {s.metric: s for s in statuses}
    assert (by_name["seq"].canary_requests, by_name["a"].canary_requests) == (10, 100)

    assert all(s.canary_requests == 0 and s.quiet == 0 for s in assess.reset_step(statuses))


@pytest.mark.parametrize(
    ("readings", "blind"),
    [
        pytest.param([error("a", 1)], ("a",), id="latest-error"),
        pytest.param([error("a", 1), passing("a", 2)], (), id="error-then-pass"),
        pytest.param([passing("a", 1), error("b", 2)], ("b",), id="non-gating-error"),
    ],
)
def test_blind_names_every_metric_whose_latest_reading_is_an_error(
    readings: list[measurement.Measurement], blind: tuple[str, ...]
) -> None:
    """blind lists the policy's metrics (gating or not) whose latest reading failed."""
    gate = gate_after(analysis(A, B), ["a"], *readings)

    assert tuple(entry.split(":")[0] for entry in gate.blind) == blind


def test_no_analysis_passes() -> None:
    """A policy without metrics never holds a step."""
    assert assess.gate(None, [], []).passed


# Errors split by traffic share (10% canary), enough to rule out a ratio above 2.
RULED_OUT = counts((4000, 40), (36000, 360))
NOT_YET = counts((100, 1), (900, 9))


@pytest.mark.parametrize(
    ("readings", "early"),
    [
        pytest.param([passing("a"), RULED_OUT], True, id="threshold-passed-sequential-ruled-out"),
        pytest.param([passing("a"), NOT_YET], False, id="sequential-not-ruled-out"),
        pytest.param([no_data("a", 1), passing("a", 2), RULED_OUT], True, id="after-no-data"),
        pytest.param([passing("a", 1), no_data("a", 2), RULED_OUT], False, id="last-no-data"),
        pytest.param(
            [failed("a", 1), passing("a", 2), RULED_OUT], False, id="threshold-failed-in-step"
        ),
    ],
)
def test_early_needs_every_gating_metric_decisive(
    readings: list[measurement.Measurement], early: bool
) -> None:
    """early: sequential metrics ruled out maxRatio, threshold metrics passed with no failure."""
    gate = gate_after(analysis(A, SEQ), ["a", "seq"], *readings)

    assert gate.passed
    assert gate.early is early


@pytest.mark.parametrize(
    ("gated", "readings", "suspect"),
    [
        pytest.param(["seq"], [counts((100, 3), (900, 2))], True, id="leaning-to-regression"),
        pytest.param(["seq"], [counts((100, 1), (900, 9))], False, id="split-by-share"),
        pytest.param(["seq"], [counts((100, 0), (900, 0))], False, id="no-errors"),
        pytest.param(["a"], [counts((100, 3), (900, 2))], False, id="not-gating"),
        pytest.param(["seq"], [], False, id="no-evidence"),
    ],
)
def test_suspect_when_the_comparison_leans_to_a_regression(
    gated: list[str], readings: list[measurement.Measurement], suspect: bool
) -> None:
    """suspect: a gating sequential comparison with fail e-value ≥ SUSPECT_E_VALUE."""
    policy = analysis(A, SEQ)
    statuses = assess.fold(policy, [], readings)

    gate = assess.gate(policy, statuses, gated)

    assert gate.suspect is suspect
    assert not gate.failed
    if suspect:
        seq = statuses[1]
        assert seq.verdict is Verdict.PASSED
        assert seq.value is not None
        assert assess.SUSPECT_E_VALUE <= seq.value < 100


# --- reset_step ---------------------------------------------------------------------------


def test_reset_step_zeroes_counters_and_keeps_evidence() -> None:
    """A new step starts counting afresh but keeps the evidence and the reading cursor."""
    policy = analysis(A, SEQ)
    before = assess.fold(
        policy, [], [failed("a", 1), error("a", 2), error("a", 3), RULED_OUT, no_data("a", 4)]
    )

    after = {s.metric: s for s in assess.reset_step(before)}

    for status in after.values():
        counters = (status.measurements, status.passes, status.failures, status.inconclusive)
        assert counters == (0, 0, 0, 0)
        assert (status.errors, status.consecutive_errors, status.passed_early) == (0, 0, False)
    seq = {s.metric: s for s in before}["seq"]
    assert after["seq"].evidence == seq.evidence
    assert after["seq"].evidence is not None
    assert after["seq"].evidence.canary_requests == 4000
    assert after["a"].at == T0 + timedelta(seconds=4)
    assert not assess.gate(policy, list(after.values()), ["a", "seq"]).failed


def test_evidence_carries_over_a_reset() -> None:
    """The sequential test keeps summing across steps: the release's whole evidence."""
    policy = analysis(SEQ)
    first = assess.fold(policy, [], [counts((25, 2), (475, 1), 1)])
    assert first[0].verdict is Verdict.PASSED

    second = assess.fold(policy, assess.reset_step(first), [counts((25, 3), (475, 0), 2)])

    assert second[0].verdict is Verdict.FAILED
    assert second[0].evidence is not None
    assert (second[0].evidence.canary_errors, second[0].evidence.stable_errors) == (5, 1)


# --- the stable's history in the evidence -------------------------------------------------

SEQ_HISTORY = {**SEQ, "compare": {**SEQ["compare"], "history": "1h"}}


def with_baseline(
    canary: tuple[int, int], stable: tuple[int, int], i: int = 0
) -> measurement.Measurement:
    reading = counts(canary, stable, i)
    return dataclasses.replace(reading, baseline=measurement.Counts(36_000, 36))


def test_history_state_survives_the_round_trip_through_the_status() -> None:
    """Baseline, guard, trusted and pending counts are persisted and read back."""
    policy = analysis(SEQ_HISTORY)
    statuses = assess.fold(
        policy,
        [],
        [with_baseline((100, 1), (300, 0), 1), with_baseline((100, 0), (300, 3), 2)],
    )
    evidence = statuses[0].evidence
    assert evidence is not None

    state = assess._state(evidence)

    assert state is not None
    assert state.baseline == measurement.Counts(36_000, 36)
    assert state.guard > 0
    assert assess._evidence(state) == evidence


def test_history_fails_a_canary_the_concurrent_test_only_suspects() -> None:
    """1% errors at 25% weight: with an hour of stable history, four errors roll back."""
    policy = analysis(SEQ_HISTORY)
    reads = [with_baseline((100, 1), (300, i % 2), i) for i in range(4)]
    reads.append(with_baseline((100, 0), (300, 0), 5))

    history = assess.fold(policy, [], reads)
    plain = assess.fold(analysis(SEQ), [], [counts((100, 1), (300, i % 2), i) for i in range(4)])

    assert history[0].verdict is Verdict.FAILED
    assert "stable history 36/36000" in history[0].reason
    assert plain[0].verdict is Verdict.PASSED


@pytest.mark.parametrize(("min_samples", "passed"), [(0, True), (10, False)])
def test_a_prometheus_comparison_needs_the_same_canary_requests(
    min_samples: int, passed: bool
) -> None:
    """A comparison on Prometheus counts is held to the same floor as on local ones."""
    prom = {
        "prometheus": {
            "address": "http://prom:9090",
            "counts": {"requests": 'r{v="{{revision}}"}', "errors": 'e{v="{{revision}}"}'},
        }
    }
    policy = analysis({**SEQ, "provider": prom, "minSamples": min_samples}, inconclusiveLimit=5)
    assert assess.counts_requests(policy.metrics[0])
    assert gate_after(policy, ["seq"], counts((3, 0), (300, 1), 1)).passed is passed


# --- empty readings (neither revision served: no new scrape) --------------------------


def test_empty_readings_between_scrapes_count_in_no_counter() -> None:
    """A reading every 10 s against a 15 s scrape finds nothing new one time in three:
    those readings are not missing data, and never pause the release."""
    policy = analysis(SEQ, inconclusiveLimit=2)
    readings = []
    for i in range(30):  # new, new, empty, new, new, empty, …
        fresh = i % 3 != 2
        readings.append(counts((5, 0), (50, 0), i) if fresh else counts((0, 0), (0, 0), i))
    status = fold(policy, *readings)["seq"]
    assert status.inconclusive == 0
    assert status.measurements == 20
    assert status.quiet == 0
    assert status.at == T0 + timedelta(seconds=29)
    assert not assess.gate(policy, [status], ["seq"]).inconclusive


def test_more_empty_readings_in_a_row_count_as_usual() -> None:
    """A dead target or an idle service: from the third empty reading in a row on."""
    policy = analysis(SEQ, inconclusiveLimit=2)
    empties = [counts((0, 0), (0, 0), i) for i in range(5)]
    status = fold(policy, counts((5, 0), (50, 0)), *empties)["seq"]
    assert (status.inconclusive, status.quiet, status.consecutive_empty) == (3, 3, 5)
    assert "no new data from the metrics source" in status.reason
    assert assess.gate(policy, [status], ["seq"]).inconclusive
    after = assess.fold(policy, [status], [counts((5, 0), (50, 0), 9)])[0]
    assert after.consecutive_empty == 0


def test_a_canary_without_requests_beside_a_serving_stable_is_never_empty() -> None:
    policy = analysis(SEQ, inconclusiveLimit=2)
    status = fold(policy, *[counts((0, 0), (50, 0), i) for i in range(3)])["seq"]
    assert (status.inconclusive, status.quiet, status.consecutive_empty) == (3, 3, 0)
