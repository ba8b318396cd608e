"""A metric's readings over a step, with the policy's limits → the step's gate.

`fold` takes the metrics' statuses (counters of the current step, evidence of the
whole release) and new readings, evaluates each reading and returns the new statuses,
each with its reading added to the metric's `recent` ones (`remember`: the last
`RECENT_READINGS`, by time — what the dashboard charts).
`gate` reads the statuses of the metrics a step is gated on and says whether the
step failed, must pause, has passed, or may end early:

- a metric **fails** when its failed readings in the step exceed `failureLimit`
  (Argo's meaning: failureLimit 1 fails on the second); every metric of the policy
  counts here, in every step, so a failure rolls back wherever it happens;
- **inconclusive**: more than `inconclusiveLimit` inconclusive readings of a gating
  metric in the step → pause for a human (never a rollback). An *empty* reading — an
  increment in which neither revision served a request — is not counted (in no
  counter) while it is one of the first `EMPTY_GRACE` in a row: when readings come
  more often than the metrics source scrapes (every 10 s against Prometheus's 15 s,
  one reading in three finds no new scrape), a reading between two scrapes is not
  missing data; more in a row (a dead target, an idle service) count as usual;
- **errors**: more than `consecutiveErrorLimit` provider errors in a row → pause;
- **passed** — the evidence a step needs before traffic may grow: none of the above
  holds and every gating metric has at least one Passed reading in the step, its
  latest reading is not an Error, its readings in the step are not mostly (more than
  half) Inconclusive for want of data (quiet readings — Inconclusive because the
  canary served no request since the last look — are left out of that count: at 1%
  of a small service most 10 s intervals are quiet), and — where the provider
  reports counts (`local`, a `prometheus` comparison's `counts`) — the canary served
  at least `max(minSamples, 1)` requests behind the step's readings, and the latest
  reading of a sequential comparison is not Inconclusive (a canary that stopped
  showing in the data — its series gone, or the data plane no longer sending it
  anything — is given no more traffic on the strength of earlier readings: the step
  waits for a look that sees it, or for `inconclusiveLimit`);
- **blind**: metrics (any of the policy's) whose latest reading is an Error: the
  engine never raises traffic or promotes while one is (a reading from a failing
  provider is no evidence of anything);
- **early**: passed, and every gating metric's last reading passed decisively;
- **suspect**: a gating sequential comparison leans towards a regression (its fail
  e-value is at least `SUSPECT_E_VALUE`) without having proved one — a step with
  `maxDuration` keeps observing instead of advancing.

Pure; no I/O. Called by the release engine.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from collections.abc import Iterable, Sequence

from rollout.analysis import evaluate, measurement, sequential
from rollout.api import policyspec
from rollout.api.release import RECENT_READINGS, Evidence, MetricStatus, Reading, Verdict

__all__ = [
    "EMPTY_GRACE",
    "SUSPECT_E_VALUE",
    "Gate",
    "counts_requests",
    "fold",
    "forget_evidence",
    "gate",
    "remember",
    "reset_step",
]

SUSPECT_E_VALUE = 1.5
#: Empty readings in a row (neither revision served a request since the last one) that
#: count in no counter: readings between two scrapes of a slower metrics source.
EMPTY_GRACE = 2


def fold(
    analysis: policyspec.Analysis,
    statuses: Sequence[MetricStatus],
    readings: Iterable[measurement.Measurement],
) -> list[MetricStatus]:
    """New metric statuses after evaluating `readings` in order."""
    by_name = {s.metric: s for s in statuses}
    metrics = {m.name: m for m in analysis.metrics}
    for reading in readings:
        metric = metrics.get(reading.metric)
        if metric is None:
            continue
        old = by_name.get(metric.name) or MetricStatus(metric=metric.name)
        result = evaluate.evaluate(metric, reading, _state(old.evidence))
        by_name[metric.name] = _count(old, reading, result)
    return [by_name.get(m.name) or MetricStatus(metric=m.name) for m in analysis.metrics]


def _state(evidence: Evidence | None) -> sequential.State | None:
    if evidence is None:
        return None
    baseline = (
        measurement.Counts(evidence.baseline_requests, evidence.baseline_errors)
        if evidence.baseline_requests > 0
        else None
    )
    return sequential.State(
        tuple(evidence.log_likelihood),
        measurement.Counts(evidence.canary_requests, evidence.canary_errors),
        measurement.Counts(evidence.stable_requests, evidence.stable_errors),
        baseline,
        evidence.guard,
        measurement.Counts(evidence.trusted_canary_requests, evidence.trusted_canary_errors),
        measurement.Counts(evidence.pending_canary_requests, evidence.pending_canary_errors),
    )


def _evidence(state: sequential.State | None) -> Evidence | None:
    if state is None:
        return None
    return Evidence(
        log_likelihood=list(state.log_likelihood),
        canary_requests=state.canary.requests,
        canary_errors=state.canary.errors,
        stable_requests=state.stable.requests,
        stable_errors=state.stable.errors,
        baseline_requests=state.baseline.requests if state.baseline is not None else 0,
        baseline_errors=state.baseline.errors if state.baseline is not None else 0,
        guard=state.guard,
        trusted_canary_requests=state.trusted.requests,
        trusted_canary_errors=state.trusted.errors,
        pending_canary_requests=state.pending.requests,
        pending_canary_errors=state.pending.errors,
    )


def _count(
    old: MetricStatus, reading: measurement.Measurement, result: evaluate.Result
) -> MetricStatus:
    verdict = result.verdict
    empty = (
        verdict is Verdict.INCONCLUSIVE
        and reading.canary is not None
        and reading.stable is not None
        and reading.canary.requests == 0
        and reading.stable.requests == 0
    )
    run = old.consecutive_empty + 1 if empty else 0
    recent = remember(old.recent, Reading(at=reading.at, verdict=verdict, value=result.value))
    if empty and run <= EMPTY_GRACE:  # between two scrapes: no reading for the counters
        return old.model_copy(
            update={
                "verdict": verdict,
                "reason": result.reason,
                "at": reading.at,
                "measured_until": reading.until or old.measured_until,
                "consecutive_empty": run,
                "passed_early": False,
                "recent": recent,
                "evidence": _evidence(result.evidence) or old.evidence,
                "slower_than_seconds": reading.slower_than or old.slower_than_seconds,
            }
        )
    requests = old.canary_requests
    if reading.canary is not None:  # an increment: requests add up
        requests += reading.canary.requests
    elif reading.samples is not None:  # a window: the fullest one read in the step
        requests = max(requests, reading.samples)
    served = reading.canary.requests if reading.canary is not None else reading.samples
    quiet = verdict is Verdict.INCONCLUSIVE and served == 0
    return old.model_copy(
        update={
            "verdict": verdict,
            "value": result.value,
            "reason": result.reason,
            "failure_reason": result.reason if verdict is Verdict.FAILED else old.failure_reason,
            "at": reading.at,
            "measured_until": reading.until or old.measured_until,
            "measurements": old.measurements + 1,
            "passes": old.passes + (verdict is Verdict.PASSED),
            "failures": old.failures + (verdict is Verdict.FAILED),
            "inconclusive": old.inconclusive + (verdict is Verdict.INCONCLUSIVE),
            "errors": old.errors + (verdict is Verdict.ERROR),
            "consecutive_errors": old.consecutive_errors + 1 if verdict is Verdict.ERROR else 0,
            "canary_requests": requests,
            "quiet": old.quiet + quiet,
            "passed_early": result.passed_early,
            "evidence": _evidence(result.evidence) or old.evidence,
            # the bound the source counted against (it may round the one it was given
            # up to a histogram bucket: that one, from then on)
            "slower_than_seconds": reading.slower_than or old.slower_than_seconds,
            "consecutive_empty": run,
            "recent": recent,
        }
    )


def remember(recent: Sequence[Reading], new: Reading) -> list[Reading]:
    """`recent` with `new` in its place by time (after those of the same time), the
    oldest dropped beyond `RECENT_READINGS`."""
    out = list(recent)
    bisect.insort_right(out, new, key=lambda r: r.at)
    return out[-RECENT_READINGS:]


def reset_step(statuses: Sequence[MetricStatus]) -> list[MetricStatus]:
    """Statuses for a new step: step counters zeroed, evidence and cursor kept."""
    zero: dict[str, object] = {"measurements": 0, "passes": 0, "failures": 0}
    zero |= {"inconclusive": 0, "errors": 0, "failure_reason": "", "canary_requests": 0, "quiet": 0}
    return [
        s.model_copy(
            update={**zero, "consecutive_errors": 0, "consecutive_empty": 0, "passed_early": False}
        )
        for s in statuses
    ]


def forget_evidence(statuses: Sequence[MetricStatus]) -> list[MetricStatus]:
    """Statuses with the release's evidence dropped (a `retry`: the step is judged
    afresh); the cursor and the slow-request bound are kept."""
    return [s.model_copy(update={"evidence": None}) for s in statuses]


@dataclasses.dataclass(frozen=True)
class Gate:
    failed: tuple[str, ...] = ()  # reasons of metrics over failureLimit
    inconclusive: tuple[str, ...] = ()  # gating metrics over inconclusiveLimit
    errors: tuple[str, ...] = ()  # metrics over consecutiveErrorLimit
    passed: bool = False
    early: bool = False
    suspect: bool = False
    blind: tuple[str, ...] = ()  # metrics whose latest reading is an Error


def gate(
    analysis: policyspec.Analysis | None,
    statuses: Sequence[MetricStatus],
    gating: Iterable[str],
) -> Gate:
    """The gate of the current step over the metrics named in `gating`."""
    if analysis is None or not analysis.metrics:
        return Gate(passed=True)
    by_name = {s.metric: s for s in statuses}
    metrics = {m.name: m for m in analysis.metrics}
    failed, inconclusive, errors = [], [], []
    for name, metric in metrics.items():
        status = by_name.get(name) or MetricStatus(metric=name)
        limit = metric.failure_limit if metric.failure_limit is not None else analysis.failure_limit
        if status.failures > limit:
            failed.append(f"{name}: {status.failure_reason or status.reason}")
        if status.consecutive_errors > analysis.consecutive_error_limit:
            errors.append(f"{name}: {status.reason}")
    names = list(gating)
    for name in names:
        status = by_name.get(name) or MetricStatus(metric=name)
        if status.inconclusive > analysis.inconclusive_limit:
            inconclusive.append(f"{name}: {status.reason}")
    ok = not (failed or inconclusive or errors)
    passed = ok and all(
        _evidenced(metrics[n], by_name.get(n) or MetricStatus(metric=n))
        for n in names
        if n in metrics
    )
    early = passed and all(
        (s := by_name.get(n)) is not None
        and s.verdict is Verdict.PASSED
        and s.failures == 0
        and (s.passed_early or metrics[n].compare is None)
        for n in names
    )
    suspect = any(_suspect(metrics[n], by_name.get(n)) for n in names if n in metrics)
    blind = tuple(f"{s.metric}: {s.reason}" for s in statuses if s.verdict is Verdict.ERROR)
    return Gate(tuple(failed), tuple(inconclusive), tuple(errors), passed, early, suspect, blind)


def _evidenced(metric: policyspec.Metric, status: MetricStatus) -> bool:
    """Whether a gating metric's readings in the step are evidence enough to pass it."""
    if status.passes == 0 or status.verdict is Verdict.ERROR:
        return False
    if _increments(metric) and status.verdict is Verdict.INCONCLUSIVE:
        return False  # the latest look saw no canary request: the evidence is not current
    # Mostly "no data" from the provider. Quiet readings (the canary served nothing since
    # the last look) are not missing data: the canary's requests are judged below.
    if 2 * (status.inconclusive - status.quiet) > status.measurements - status.quiet:
        return False
    if counts_requests(metric):  # the provider counts the canary's requests
        return status.canary_requests >= max(metric.min_samples, 1)
    return True


def _increments(metric: policyspec.Metric) -> bool:
    """Whether the metric is a sequential comparison (its readings are increments)."""
    return (
        metric.compare is not None
        and metric.compare.method is policyspec.CompareMethod.SEQUENTIAL
        and counts_requests(metric)
    )


def counts_requests(metric: policyspec.Metric) -> bool:
    """Whether the metric's readings count the canary's requests: the local provider's
    always, a prometheus comparison's (its `counts`)."""
    prom = metric.provider.prometheus
    return metric.provider.local is not None or (
        prom is not None and prom.counts is not None and metric.compare is not None
    )


def _suspect(metric: policyspec.Metric, status: MetricStatus | None) -> bool:
    compare = metric.compare
    if compare is None or compare.method is not policyspec.CompareMethod.SEQUENTIAL:
        return False
    state = _state(status.evidence if status is not None else None)
    if state is None:
        return False
    g = sequential.grid(compare.max_ratio)
    return sequential.suspect_log_e(state, g) >= math.log(SUSPECT_E_VALUE)
