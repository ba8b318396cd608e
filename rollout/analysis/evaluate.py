"""One measurement of one metric → a verdict with its reason (never a bare bool).

- `Error`: the provider failed (unreachable, bad query). Never a pass.
- `Inconclusive`: no data, NaN, or fewer requests than `minSamples`. Never a failure.
- thresholds: `Failed` when the value is below `min` or above `max`, else `Passed`.
- compare, sequential: the reading's counts update the release's evidence
  (`sequential`) — failed requests, or slow ones for a latency stat (the reading's
  `slower_than` says which); `Failed` when the fail e-value reaches 1/alpha; otherwise `Passed`
  ("no evidence of a regression"), with `passed_early` once the pass e-value reaches
  1/alpha. A reading whose increment holds no canary request is Inconclusive: it says
  nothing about the canary (a canary dropped from the data plane must not pass a step).
- compare, mann-whitney: canary latencies against stable latencies scaled by
  `maxRatio`, one-sided; `Failed` when p < alpha; too few samples is Inconclusive.

A metric with several gates takes the worst verdict (Error > Failed > Inconclusive >
Passed).

Pure; no I/O. Called by `assess` (and so by the release engine and the simulator).
"""

from __future__ import annotations

import dataclasses
import math

from rollout.analysis import measurement, sequential
from rollout.api import policyspec
from rollout.api.release import Verdict

__all__ = ["Result", "evaluate"]

_RANK = {Verdict.PASSED: 0, Verdict.INCONCLUSIVE: 1, Verdict.FAILED: 2, Verdict.ERROR: 3}
_MIN_LATENCY_SAMPLES = 20


@dataclasses.dataclass(frozen=True)
class Result:
    verdict: Verdict
    reason: str
    value: float | None = None
    evidence: sequential.State | None = None
    passed_early: bool = False


def evaluate(
    metric: policyspec.Metric,
    reading: measurement.Measurement,
    evidence: sequential.State | None,
) -> Result:
    """The verdict of one reading; `evidence` is the metric's sequential state so far."""
    if reading.error is not None:
        return Result(Verdict.ERROR, f"provider error: {reading.error}", evidence=evidence)
    results = []
    if metric.thresholds is not None:
        results.append(_thresholds(metric, reading))
    if metric.compare is not None:
        if metric.compare.method is policyspec.CompareMethod.SEQUENTIAL:
            results.append(_sequential(metric, metric.compare, reading, evidence))
        else:
            results.append(_mann_whitney(metric, reading))
    worst = max(results, key=lambda r: _RANK[r.verdict])
    new_evidence = next((r.evidence for r in results if r.evidence is not None), evidence)
    early = all(r.passed_early or r.verdict is Verdict.PASSED for r in results) and any(
        r.passed_early for r in results
    )
    reason = "; ".join(r.reason for r in results)
    return Result(
        worst.verdict, reason, worst.value, new_evidence, early and worst.verdict is Verdict.PASSED
    )


def _thresholds(metric: policyspec.Metric, reading: measurement.Measurement) -> Result:
    assert metric.thresholds is not None
    value = reading.value
    if value is None or math.isnan(value):
        return Result(Verdict.INCONCLUSIVE, "no data")
    if reading.samples is not None and reading.samples < metric.min_samples:
        return Result(
            Verdict.INCONCLUSIVE,
            f"{reading.samples} requests < minSamples {metric.min_samples}",
            value,
        )
    low, high = metric.thresholds.min, metric.thresholds.max
    if low is not None and value < low:
        return Result(Verdict.FAILED, f"{value:.4g} < min {low:g}", value)
    if high is not None and value > high:
        return Result(Verdict.FAILED, f"{value:.4g} > max {high:g}", value)
    return Result(Verdict.PASSED, f"{value:.4g} within thresholds", value)


def _sequential(
    metric: policyspec.Metric,
    compare: policyspec.Compare,
    reading: measurement.Measurement,
    evidence: sequential.State | None,
) -> Result:
    g = sequential.grid(compare.max_ratio)
    state = evidence if evidence is not None else sequential.State.empty(g)
    slow = metric.provider.local is not None and metric.provider.local.stat in (
        policyspec.LATENCY_STATS
    )
    if reading.canary is None or reading.stable is None:
        why = (
            "no stable latency yet to tell slow requests from"
            if slow and reading.slower_than is None
            else "no request counts"
        )
        return Result(Verdict.INCONCLUSIVE, why, evidence=state)
    state = sequential.update(state, g, reading.canary, reading.stable, reading.baseline)
    threshold = math.log(1 / compare.alpha)
    fail, passing = sequential.decision_log_e(state, g), sequential.pass_log_e(state, g)
    what = "errors"
    if slow:
        bound = reading.slower_than or 0.0
        what = f"slower than {bound * 1000:.4g} ms"
    counts = (
        f"canary {state.canary.errors}/{state.canary.requests}"
        f" vs stable {state.stable.errors}/{state.stable.requests} {what}"
    )
    if state.baseline is not None:
        counts += (
            f", stable history {state.baseline.errors}/{state.baseline.requests}"
            f" (canary {state.trusted.errors}/{state.trusted.requests} compared with it)"
        )
    value = math.exp(min(fail, 700.0))
    if fail >= threshold:
        return Result(
            Verdict.FAILED,
            f"canary {'slow requests' if slow else 'errors'} exceed stable's:"
            f" e-value {value:.3g}"
            f" ≥ {1 / compare.alpha:.3g} ({counts})",
            value,
            state,
        )
    if reading.canary.requests == 0:  # nothing new about the canary: no evidence either way
        why = (
            "no canary requests yet"
            if state.canary.requests == 0
            else "no canary requests since the last reading"
        )
        if reading.stable.requests == 0:
            why += " (nor stable: no new data from the metrics source)"
        return Result(Verdict.INCONCLUSIVE, f"{why} ({counts})", value, state)
    early = passing >= threshold
    limit = 1 / compare.alpha
    reason = (
        f"ratio ≤ {compare.max_ratio:g} shown: e-value {math.exp(passing):.3g} ({counts})"
        if early
        else f"no evidence of a regression: e-value {value:.3g} < {limit:.3g} ({counts})"
    )
    return Result(Verdict.PASSED, reason, value, state, passed_early=early)


def _mann_whitney(metric: policyspec.Metric, reading: measurement.Measurement) -> Result:
    assert metric.compare is not None
    canary, stable = reading.canary_values, reading.stable_values
    need = max(metric.min_samples, _MIN_LATENCY_SAMPLES)
    if len(canary) < need or len(stable) < need:
        return Result(
            Verdict.INCONCLUSIVE, f"{len(canary)} canary / {len(stable)} stable samples < {need}"
        )
    # numpy and scipy imported here: they cost ~1 s, and most CLI commands never test
    import numpy as np
    from scipy import stats

    scaled = np.asarray(stable, dtype=np.float64) * metric.compare.max_ratio

    test = stats.mannwhitneyu(
        np.asarray(canary, dtype=np.float64), scaled, alternative="greater", method="asymptotic"
    )
    p = float(test.pvalue)
    if p < metric.compare.alpha:
        return Result(
            Verdict.FAILED,
            f"canary slower than {metric.compare.max_ratio:g}× stable (Mann-Whitney p={p:.3g})",
            p,
        )
    return Result(
        Verdict.PASSED, f"not slower than {metric.compare.max_ratio:g}× stable (p={p:.3g})", p
    )
