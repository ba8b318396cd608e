"""What a metric provider returns: one reading of one metric.

A reading can carry a value for threshold gates (`value`, with the number of
requests behind it in `samples`), request/error counts of both revisions for the
sequential comparison (always an increment: the requests since the previous
reading, so that no request is counted twice) — with, when the comparison uses the
stable's history, the stable's counts over that window before the release started
(`baseline`, the same window at every reading) —, latency samples of both revisions for
Mann-Whitney, or a provider `error`. `until` is the end of the data it covers.

Pure data; no I/O.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

__all__ = ["Counts", "Measurement"]


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
