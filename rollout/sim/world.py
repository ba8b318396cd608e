"""One seed's simulated traffic, and the metrics backend a decision-maker queries.

`World` generates traffic for a canary and a stable revision in whole seconds,
vectorised with numpy over the seconds of an interval (never per request):

- arrivals: Poisson at `rps` times a per-minute gamma multiplier (mean 1, CV from the
  scenario: 0.1 by default, 1 in `noisy-good`); the multiplier scales the total, so it
  is shared by both revisions;
- routing: each request goes to the canary with probability `canary_weight` (a
  binomial split per second);
- errors: binomial per revision with the scenario's per-second error rates;
- latency: log-normal, median 100 ms, p99 300 ms (sigma = ln 3 / z0.99), canary
  latencies times the scenario's `latency_factor`. Latencies are in **seconds**.

Time is float seconds from 0. Second `s` covers [s, s+1) and is drawn with the weight
in force at its start: `advance(until, w)` draws every second `s < until` not drawn
yet, so a weight set at a fractional time takes effect at the next whole second.

Latency storage (bounded): for each second and revision the world keeps at most
`latency_samples_per_second` (default 32) raw samples — the first ones drawn, an
i.i.d. subset since latencies are i.i.d. within a revision and second — stored flat
with per-second offsets. That supports exact quantiles over the kept samples of a
window and samples for a Mann-Whitney test, in O(seconds x 32) memory whatever the
request rate (at 10 rps nothing is dropped).

Queries answer like a metrics backend behind a scrape delay: only complete seconds
that ended at or before `now - scrape_delay` are visible (the window end is clipped
there). `oracle_counts` gives the undelayed truth, for tests and scoring only.

With a `Prometheus` model the backend is a Prometheus scraping cumulative counters
every `scrape_interval` seconds (at a phase of its own per seed, in [0, interval)):
a query at `t` sees the counters of the last scrape at or before `t`, so both ends of
every window fall back to scrape instants (what `rate` and `increase` would be
computed from), the latency histogram has the model's bucket bounds, and readers add
`query_delay` (what our Prometheus reader waits: its scrape delay) on top of
`scrape_delay`. Latency samples are still kept (the world's own), but a reader on
Prometheus must not use them (Prometheus keeps none).

Slow requests: `slow_counts(revision, start, end, bound)` counts the kept latency
samples of a window and those slower than `bound` (at 10 rps every request is kept;
above 32 rps per revision, a uniform subset of them); `history_slow_counts` draws
the stable's slow requests before the release as a binomial of its history's
requests with the log-normal's share above the bound (from a stream seeded by the
seed and the bound, so the same question gets the same answer), and
`history_latency_quantile(q)` is the stable's latency quantile (the distribution's:
a history holds tens of thousands of requests).

History: before time 0 the stable revision served all the traffic, at the same
rate, noise and error rate (the scenario's rates at negative seconds: the baseline
p0, incidents start at 0 or later). `history_counts(start, end)` answers for
windows before 0, drawn lazily backwards from 0 in blocks of an hour from a stream
of its own, so the history is the same whatever is asked first or how far back.

Random streams: a `numpy.random.SeedSequence(seed)` spawns independent generators
for the per-minute noise, arrivals, routing, errors and latency, and a sixth for
the history (spawned after them, so the first five — and every result that does not
read the history — are unchanged by it), a seventh for the scrape phase. Noise and
arrivals do not depend on the weights, so a seed's arrival process is the same
whatever the decision-maker does (common random numbers across policies); the rest
depends on the weights applied.

Must not: read clocks, sleep, do I/O, or know about any decision-maker.
Called by `rollout.sim.harness` and by runners through the query methods.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from typing import Literal, TypeVar

import numpy as np
import numpy.typing as npt

from rollout.sim import scenarios

__all__ = [
    "ISTIO_BUCKETS_S",
    "LATENCY_MEDIAN_S",
    "LATENCY_SIGMA",
    "Prometheus",
    "Revision",
    "World",
]

Revision = Literal["canary", "stable"]
_T = TypeVar("_T", bound=np.generic)

#: Median latency of a healthy revision, seconds.
LATENCY_MEDIAN_S = 0.1
#: Log-normal sigma giving p99 = 3 x median: ln(3) / z(0.99).
LATENCY_SIGMA = math.log(3.0) / 2.3263478740408408

_MINUTE = 60
_INITIAL_SECONDS = 900  # buffers double when a run goes longer
_ARRIVAL_BLOCK_MINUTES = 10  # arrivals are drawn ahead in blocks (same stream either way)
_EPS = 1e-9  # tolerance when turning float times into whole seconds
_HISTORY_BLOCK = 3600  # seconds of pre-release history drawn at once, going backwards

#: Istio's default `istio_request_duration_milliseconds` bucket bounds, in seconds.
ISTIO_BUCKETS_S = tuple(
    ms / 1000
    for ms in (0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)
)


@dataclasses.dataclass(frozen=True)
class Prometheus:
    """The metrics backend as a Prometheus scraping counters (see the module)."""

    scrape_interval: float = 15.0
    query_delay: float = 15.0  # our reader's scrape delay (promstats.DEFAULT_SCRAPE_DELAY)
    buckets: tuple[float, ...] = ISTIO_BUCKETS_S  # the latency histogram's bounds, seconds

    def __post_init__(self) -> None:
        if self.scrape_interval <= 0.0 or self.query_delay < 0.0:
            raise ValueError("the scrape interval must be positive, the query delay not negative")

    def bucket_at_or_above(self, bound: float) -> float | None:
        """The smallest bucket bound at or above `bound` (None: above every bucket)."""
        return next((b for b in self.buckets if b >= bound * (1 - 1e-9)), None)


def _grown(array: npt.NDArray[_T], size: int) -> npt.NDArray[_T]:
    """`array` zero-padded to at least `size` elements (doubling, amortised O(1))."""
    if size <= array.shape[0]:
        return array
    capacity = max(size, 2 * array.shape[0])
    out = np.zeros(capacity, dtype=array.dtype)
    out[: array.shape[0]] = array
    return out


class _Series:
    """Per-second traffic of one revision: requests, errors, kept latency samples.

    Latency samples are stored flat, second after second; `offsets[s]` is where
    second `s` starts, so a window's samples are one contiguous slice.
    """

    def __init__(self) -> None:
        self.requests = np.zeros(_INITIAL_SECONDS, dtype=np.int64)
        self.errors = np.zeros(_INITIAL_SECONDS, dtype=np.int64)
        self.offsets = np.zeros(_INITIAL_SECONDS + 1, dtype=np.int64)
        self.latency = np.zeros(_INITIAL_SECONDS * 10, dtype=np.float64)

    def append(
        self,
        start: int,
        requests: npt.NDArray[np.int64],
        errors: npt.NDArray[np.int64],
        kept: npt.NDArray[np.int64],
        latency: npt.NDArray[np.float64],
    ) -> None:
        end = start + requests.shape[0]
        self.requests = _grown(self.requests, end)
        self.errors = _grown(self.errors, end)
        self.offsets = _grown(self.offsets, end + 1)
        first = int(self.offsets[start])
        self.latency = _grown(self.latency, first + latency.shape[0])
        self.requests[start:end] = requests
        self.errors[start:end] = errors
        self.offsets[start + 1 : end + 1] = first + np.cumsum(kept)
        self.latency[first : first + latency.shape[0]] = latency

    def samples(self, lo: int, hi: int) -> npt.NDArray[np.float64]:
        return self.latency[self.offsets[lo] : self.offsets[hi]]


class World:
    """One seed's traffic for a canary and a stable revision, queried with a scrape delay."""

    def __init__(
        self,
        scenario: scenarios.Scenario,
        *,
        seed: int,
        rps: float = 10.0,
        p0: float = 0.001,
        scrape_delay: float = 10.0,
        latency_samples_per_second: int = 32,
        prometheus: Prometheus | None = None,
    ) -> None:
        if rps <= 0.0:
            raise ValueError("rps must be positive")
        if not 0.0 <= p0 <= 1.0:
            raise ValueError("p0 must be a probability")
        if scrape_delay < 0.0:
            raise ValueError("scrape delay must not be negative")
        if latency_samples_per_second < 1:
            raise ValueError("keep at least one latency sample per second")
        self.scenario = scenario
        self.seed = seed
        self.rps = rps
        self.p0 = p0
        self.scrape_delay = scrape_delay
        self.prometheus = prometheus
        streams = np.random.SeedSequence(seed).spawn(7)  # the first six as before 7 existed
        noise, arrivals, split, errors, latency, history, phase = streams
        self._scrape_phase = 0.0
        if prometheus is not None:
            self._scrape_phase = float(
                np.random.default_rng(phase).uniform(0.0, prometheus.scrape_interval)
            )
        self._rng_noise = np.random.default_rng(noise)
        self._rng_arrivals = np.random.default_rng(arrivals)
        self._rng_split = np.random.default_rng(split)
        self._rng_errors = np.random.default_rng(errors)
        self._rng_latency = np.random.default_rng(latency)
        self._rng_history = np.random.default_rng(history)
        # per-second stable requests and errors before 0, most recent second first
        self._history_requests = np.zeros(0, dtype=np.int64)
        self._history_errors = np.zeros(0, dtype=np.int64)
        self._arrivals = np.zeros(0, dtype=np.int64)
        self._k = latency_samples_per_second
        self._series = {"canary": _Series(), "stable": _Series()}
        self._drawn = 0  # whole seconds drawn so far: [0, _drawn)
        self._now = 0.0
        self._canary_failed = 0
        self._canary_requests = 0

    # -- clock and traffic --------------------------------------------------------------

    @property
    def now(self) -> float:
        """Current simulated time, seconds from the start of the release."""
        return self._now

    @property
    def canary_failed(self) -> int:
        """Failed requests the canary has served so far (ground truth, no delay)."""
        return self._canary_failed

    @property
    def canary_requests(self) -> int:
        """Requests the canary has served so far (ground truth, no delay)."""
        return self._canary_requests

    def advance(self, until: float, canary_weight: float) -> None:
        """Move the clock to `until`, drawing traffic at `canary_weight` (0..1).

        Every whole second `s` with `s < until` not drawn yet is drawn with this weight.
        """
        if until < self._now:
            raise ValueError(f"cannot go back in time: {until} < now {self._now}")
        if not 0.0 <= canary_weight <= 1.0:
            raise ValueError(f"canary weight {canary_weight} is not in [0, 1]")
        end = math.ceil(until - _EPS)
        if end > self._drawn:
            self._draw(self._drawn, end, canary_weight)
            self._drawn = end
        self._now = until

    def _draw(self, start: int, end: int, weight: float) -> None:
        self._ensure_arrivals(end)
        seconds = np.arange(start, end, dtype=np.int64)
        total = self._arrivals[start:end]
        if weight <= 0.0:
            canary = np.zeros_like(total)
        elif weight >= 1.0:
            canary = total.copy()
        else:
            canary = self._rng_split.binomial(total, weight)
        stable = total - canary
        p_canary, p_stable = self.scenario.error_rates(seconds, p0=self.p0)
        canary_errors = self._rng_errors.binomial(canary, p_canary)
        stable_errors = self._rng_errors.binomial(stable, p_stable)
        self._record("canary", start, canary, canary_errors, self.scenario.latency_factor)
        self._record("stable", start, stable, stable_errors, 1.0)
        self._canary_failed += int(canary_errors.sum())
        self._canary_requests += int(canary.sum())

    def _record(
        self,
        revision: str,
        start: int,
        requests: npt.NDArray[np.int64],
        errors: npt.NDArray[np.int64],
        latency_factor: float,
    ) -> None:
        kept = np.minimum(requests, self._k)
        normal = self._rng_latency.standard_normal(int(kept.sum()))
        latency = (LATENCY_MEDIAN_S * latency_factor) * np.exp(LATENCY_SIGMA * normal)
        self._series[revision].append(start, requests, errors, kept, latency)

    def _ensure_arrivals(self, end: int) -> None:
        have = self._arrivals.shape[0]
        if have >= end:
            return
        minutes = max(_ARRIVAL_BLOCK_MINUTES, -(-(end - have) // _MINUTE))
        cv = self.scenario.traffic_cv
        if cv > 0.0:
            multiplier = self._rng_noise.gamma(1.0 / cv**2, cv**2, minutes)
        else:
            multiplier = np.ones(minutes)
        rate = np.repeat(self.rps * multiplier, _MINUTE)
        block = self._rng_arrivals.poisson(rate).astype(np.int64)
        self._arrivals = np.concatenate([self._arrivals, block])

    def _ensure_history(self, seconds: int) -> None:
        """Draw the stable's traffic for at least the `seconds` before 0."""
        while self._history_requests.shape[0] < seconds:
            first = -self._history_requests.shape[0] - _HISTORY_BLOCK
            cv = self.scenario.traffic_cv
            minutes = _HISTORY_BLOCK // _MINUTE
            if cv > 0.0:
                multiplier = self._rng_history.gamma(1.0 / cv**2, cv**2, minutes)
            else:
                multiplier = np.ones(minutes)
            requests = self._rng_history.poisson(np.repeat(self.rps * multiplier, _MINUTE))
            _, p_stable = self.scenario.error_rates(
                np.arange(first, first + _HISTORY_BLOCK, dtype=np.int64), p0=self.p0
            )
            errors = self._rng_history.binomial(requests, p_stable)
            # stored most recent first: reverse the block (drawn oldest first)
            self._history_requests = np.concatenate(
                [self._history_requests, requests[::-1].astype(np.int64)]
            )
            self._history_errors = np.concatenate(
                [self._history_errors, errors[::-1].astype(np.int64)]
            )

    # -- queries (what a metrics backend would answer) -----------------------------------

    def history_counts(self, start: float, end: float) -> tuple[int, int]:
        """(requests, errors) of the stable in [start, end) before the release (end ≤ 0).

        Whole seconds inside the window; the part at or after 0 (the release) is
        not history and is left out, as is what the scrape delay hides at `now`.
        """
        end = min(end, 0.0, self._now - self.scrape_delay)
        lo = math.ceil(start - _EPS)  # negative seconds
        hi = math.floor(end + _EPS)
        if hi <= lo:
            return 0, 0
        self._ensure_history(-lo)
        # second s < 0 is at index -s - 1 of the most-recent-first arrays
        window = slice(-hi, -lo)
        return (
            int(self._history_requests[window].sum()),
            int(self._history_errors[window].sum()),
        )

    def _window(self, start: float, end: float, *, delayed: bool) -> tuple[int, int]:
        """Whole seconds [lo, hi) inside [start, end), clipped to what is visible (and,
        on Prometheus, both ends back to the last scrape at or before them)."""
        if delayed:
            end = min(end, self._now - self.scrape_delay)
        end = min(end, self._now)
        if delayed and self.prometheus is not None:
            lo = max(0, math.floor(self._scraped(start) + _EPS))
            hi = min(self._drawn, math.floor(self._scraped(end) + _EPS))
            return lo, max(lo, hi)
        lo = max(0, math.ceil(start - _EPS))
        hi = min(self._drawn, math.floor(end + _EPS))
        return lo, max(lo, hi)

    def _scraped(self, t: float) -> float:
        """The last scrape instant at or before `t`."""
        assert self.prometheus is not None
        interval = self.prometheus.scrape_interval
        scrapes = math.floor((t - self._scrape_phase) / interval + _EPS)
        return self._scrape_phase + scrapes * interval

    def counts(self, revision: Revision, start: float, end: float) -> tuple[int, int]:
        """(requests, errors) of `revision` in [start, end), as the metrics backend sees them.

        Only data older than `now - scrape_delay` is visible: `end` is clipped to
        `now - scrape_delay`, and only whole seconds inside the window count.
        """
        lo, hi = self._window(start, end, delayed=True)
        series = self._series[revision]
        return int(series.requests[lo:hi].sum()), int(series.errors[lo:hi].sum())

    def oracle_counts(self, revision: Revision, start: float, end: float) -> tuple[int, int]:
        """(requests, errors) in [start, end) without the scrape delay: ground truth.

        For tests and scoring only; a decision-maker must use `counts`.
        """
        lo, hi = self._window(start, end, delayed=False)
        series = self._series[revision]
        return int(series.requests[lo:hi].sum()), int(series.errors[lo:hi].sum())

    def latency_quantile(
        self, revision: Revision, start: float, end: float, q: float
    ) -> float | None:
        """The q-quantile (0..1) of `revision`'s latency in [start, end), seconds.

        Computed over the kept samples of the visible window (end clipped to
        `now - scrape_delay`); None when the window holds no request.
        """
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile {q} is not in [0, 1]")
        lo, hi = self._window(start, end, delayed=True)
        samples = self._series[revision].samples(lo, hi)
        if samples.size == 0:
            return None
        return float(np.quantile(samples, q))

    def latency_sample(
        self, revision: Revision, start: float, end: float, max_n: int
    ) -> npt.NDArray[np.float64]:
        """Up to `max_n` latency samples (seconds) of `revision` in the visible window.

        When more are kept, an evenly spaced subset in time order is returned (the
        samples are i.i.d., so this is still a random sample). Empty when no data.
        """
        if max_n < 1:
            raise ValueError("max_n must be at least 1")
        lo, hi = self._window(start, end, delayed=True)
        samples = self._series[revision].samples(lo, hi)
        if samples.size > max_n:
            index = np.linspace(0, samples.size - 1, max_n).round().astype(np.int64)
            samples = samples[index]
        return samples.copy()

    def slow_counts(
        self, revision: Revision, start: float, end: float, bound: float
    ) -> tuple[int, int]:
        """(requests with a kept latency, those slower than `bound` seconds) of
        `revision` in the visible window [start, end)."""
        lo, hi = self._window(start, end, delayed=True)
        samples = self._series[revision].samples(lo, hi)
        return int(samples.size), int(np.count_nonzero(samples > bound))

    def history_latency_quantile(self, q: float) -> float:
        """The stable's latency q-quantile before the release (seconds): the module."""
        if not 0.0 < q < 1.0:
            raise ValueError(f"quantile {q} is not in (0, 1)")
        return LATENCY_MEDIAN_S * math.exp(LATENCY_SIGMA * statistics.NormalDist().inv_cdf(q))

    def history_slow_counts(self, start: float, end: float, bound: float) -> tuple[int, int]:
        """(requests, requests slower than `bound`) of the stable in [start, end) before
        the release: a binomial draw, the same for the same question (the module)."""
        requests, _ = self.history_counts(start, end)
        z = math.log(bound / LATENCY_MEDIAN_S) / LATENCY_SIGMA
        share = 1.0 - statistics.NormalDist().cdf(z)
        key = [abs(round(start * 1000)), abs(round(end * 1000)), round(bound * 1e9)]
        stream = np.random.default_rng([self.seed, 7, *key])
        slow = int(stream.binomial(requests, share)) if requests else 0
        return requests, slow
