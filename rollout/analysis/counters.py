"""Exact request counts between two instants, from cumulative counters.

The sequential comparison (`sequential`) needs, at each reading, the number of
requests and failed requests each revision served *since the previous reading* — an
increment, never a rate (a rate over a window counts some requests twice and others
never). A counter backend (Prometheus) holds cumulative counters per series (one per
pod, status class, …); read at two instants `t0 < t1`, the increment of a revision is
the sum over its series of what each counted in between:

    inc(s) = v1(s) − v0(s)   when v1(s) ≥ v0(s)            (the counter went on)
    inc(s) = v1(s)           when v1(s) < v0(s)            (a reset: the pod restarted
                                                            and counted from 0)
    inc(s) = v1(s)           when s had no value at t0     (a new series: a new pod,
                                                            a first error of its class)
    inc(s) = 0               when s has no value at t1     (the series ended: what it
                                                            counted after t0 is lost)

So an increment is never negative and never more than was served: a reset loses at
most what the restarted pod counted before it died after `t0` (the old pod's last
scrape), and an ended series loses what it counted after `t0`. Counts are rounded down
to whole requests (a counter of requests is whole; a half is a float artefact).

`t1` is `now − scrapeDelay` (what the backend has surely scraped by now), `t0` the
previous reading's `t1` (`status.analysis[].measuredUntil`), or the release's start
for the first reading. `t1 ≤ t0` is no new data: Inconclusive, never a verdict.

`split(before, after, revision_label, status_label, failed, canary, stable)` turns the
series of two instant queries into the canary's and the stable's `Counts`.

Pure; no I/O. Called by the prometheus provider's comparisons (issue 16).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from rollout.analysis import measurement

__all__ = ["Series", "increase", "split"]

# One series: its labels, sorted, as (name, value) pairs (a hashable key).
Series = tuple[tuple[str, str], ...]


def increase(before: Mapping[Series, float], after: Mapping[Series, float]) -> int:
    """Requests counted between the two instants, summed over the series (module)."""
    total = 0.0
    for series, now in after.items():
        if not math.isfinite(now) or now < 0:
            continue  # not a counter's value: counts nothing
        then = before.get(series)
        if then is None or not math.isfinite(then) or now < then:
            total += now  # a new series, or a reset: counted from 0
        else:
            total += now - then
    return math.floor(total + 1e-9)


def split(
    before: Mapping[Series, float],
    after: Mapping[Series, float],
    *,
    revision_label: str,
    status_label: str,
    failed: str,
    canary: str,
    stable: str | None,
) -> tuple[measurement.Counts, measurement.Counts | None]:
    """The canary's and the stable's (requests, failed requests) between the two
    instants; `failed` is a regex a series' status label fully matches when its
    requests failed (`5..`, `5xx|error`, `failure`)."""
    pattern = re.compile(failed)

    def of(revision: str) -> measurement.Counts:
        def pick(series: Mapping[Series, float], errors: bool) -> dict[Series, float]:
            chosen = {}
            for key, value in series.items():
                labels = dict(key)
                if labels.get(revision_label) != revision:
                    continue
                if errors and not pattern.fullmatch(labels.get(status_label, "")):
                    continue
                chosen[key] = value
            return chosen

        requests = increase(pick(before, False), pick(after, False))
        errors = increase(pick(before, True), pick(after, True))
        return measurement.Counts(requests, min(errors, requests))

    return of(canary), (of(stable) if stable is not None else None)
