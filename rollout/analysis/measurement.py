"""The metric provider port: what a reading is asked with (`MeasureContext`), who
gives one (`MetricProvider`: `rollout.analysis.providers` for the real sources, the
rehearsal and test platforms for theirs) and what it is (`Measurement`).

A `Measurement` is one reading of one metric.

A reading can carry a value for threshold gates (`value`, with the number of
requests behind it in `samples`), request/error counts of both revisions for the
sequential comparison (always an increment: the requests since the previous
reading, so that no request is counted twice) — with, when the comparison uses the
stable's history, the stable's counts over that window before the release started
(`baseline`, the same window at every reading) —, latency samples of both revisions for
Mann-Whitney, or a provider `error`. `until` is the end of the data it covers.

A comparison of slow requests (a sequential `compare` on a latency stat) carries its
counts in the same `Counts`, `errors` being the requests slower than `slower_than`
(seconds): the bound chosen once per release (the stable's quantile before the
release, or the policy's `slowerThan`), given back in the context of later readings
(`MeasureContext.slower_than`) so that every reading counts against the same one.

Pure declarations; no I/O.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Protocol

from rollout.api import policyspec

__all__ = ["Counts", "MeasureContext", "Measurement", "MetricProvider"]


@dataclasses.dataclass(frozen=True)
class Counts:
    requests: int
    errors: int

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.requests + other.requests, self.errors + other.errors)


@dataclasses.dataclass(frozen=True)
class Measurement:
    metric: str
    at: datetime
    until: datetime | None = None
    value: float | None = None
    samples: int | None = None
    canary: Counts | None = None
    stable: Counts | None = None
    baseline: Counts | None = None
    canary_values: tuple[float, ...] = ()
    stable_values: tuple[float, ...] = ()
    error: str | None = None
    slower_than: float | None = None  # seconds: what counted as slow (slow comparisons)


@dataclasses.dataclass(frozen=True)
class MeasureContext:
    """Where and when to measure: the revisions being compared, and the time range."""

    namespace: str
    service: str
    stable: str | None
    canary: str
    now: datetime
    release_started_at: datetime | None = None
    measured_until: datetime | None = None  # sequential comparisons read increments from here
    # No reading counts data from before this: the release's start, or its last `retry`
    # (a retried release or step is judged on fresh data only). Windows are cut here.
    fresh_since: datetime | None = None
    slower_than: float | None = None  # seconds: the bound of slow requests chosen before


class MetricProvider(Protocol):
    def measure(self, metric: policyspec.Metric, ctx: MeasureContext) -> Measurement:
        """One reading; failures are returned as `Measurement.error`, never raised."""
        ...
