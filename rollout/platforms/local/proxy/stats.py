"""Per-revision request statistics of the proxy, in per-second buckets over the last 15
minutes: counts by code class, a latency histogram, and a bounded reservoir of latency
samples per second (for rank tests such as Mann-Whitney).

- Code classes: `2xx`, `3xx`, `4xx`, `5xx` from the upstream's status, and `error`
  when the upstream could not be reached or failed before answering (connection
  refused or reset, timeout). `errors` = `5xx` + `error`.
- Latency: seconds from the proxy receiving the request to the end of the response
  body, for requests the upstream answered (any status). Connection errors have no
  latency: a revision that refuses connections in 0.1 ms must not look fast.
- Quantiles come from a log-linear histogram (bucket bounds grow by 5%), so a
  reported p99 is within ~2.5% of the true sample quantile whatever the rate.
- Slow requests (asked with `slower_than`, seconds): `timed` counts the requests with
  a latency, `slow` those in buckets wholly above the bound — a request up to 5%
  slower than the bound, in the bound's own bucket, counts as fast, for every
  revision alike, so comparisons of slow shares are fair.
- A window is the whole seconds `s` with `since <= s < until` (unix seconds, the second
  a request completed in).
- Memory is bounded: at most `KEEP_S` buckets per revision, `RESERVOIR` samples per
  bucket; a revision with no bucket left is dropped by `sweep`.

Called by the server (`record`, `query`, `sweep`). Pure: no I/O; time and the random
source are passed in.
"""

from __future__ import annotations

import heapq
import math
import random
from typing import Any

__all__ = ["CODES", "KEEP_S", "RESERVOIR", "Stats", "code_class", "quantile"]

CODES = ("2xx", "3xx", "4xx", "5xx", "error")
KEEP_S = 15 * 60
RESERVOIR = 256  # latency samples kept per revision per second
_MIN_LATENCY = 1e-5  # seconds; the histogram's first bound
_GAMMA = 1.05
_LOG_GAMMA = math.log(_GAMMA)


def code_class(status: int | None) -> str:
    """`2xx`…`5xx` for an HTTP status, `error` for None (no answer)."""
    if status is None:
        return "error"
    return f"{min(max(status // 100, 2), 5)}xx"


def _bucket(latency: float) -> int:
    if latency <= _MIN_LATENCY:
        return 0
    return int(math.log(latency / _MIN_LATENCY) / _LOG_GAMMA) + 1


def _bucket_value(index: int) -> float:
    """The geometric middle of a histogram bucket."""
    if index == 0:
        return _MIN_LATENCY
    return float(_MIN_LATENCY * _GAMMA ** (index - 0.5))


def quantile(histogram: dict[int, int], q: float) -> float | None:
    """The `q` quantile (nearest rank) of a histogram; None when it is empty."""
    total = sum(histogram.values())
    if total == 0:
        return None
    rank = max(math.ceil(q * total), 1)
    seen = 0
    for index in sorted(histogram):
        seen += histogram[index]
        if seen >= rank:
            return _bucket_value(index)
    return _bucket_value(max(histogram))  # pragma: no cover - rank <= total


class _Second:
    __slots__ = ("codes", "histogram", "observed", "samples")

    def __init__(self) -> None:
        self.codes = [0] * len(CODES)
        self.histogram: dict[int, int] = {}
        self.samples: list[float] = []
        self.observed = 0  # latencies seen (the reservoir's population)


_CODE_INDEX = {code: i for i, code in enumerate(CODES)}


class _Revision:
    def __init__(self) -> None:
        self.seconds: dict[int, _Second] = {}

    def record(self, second: int, code: str, latency: float | None, rng: random.Random) -> None:
        bucket = self.seconds.get(second)
        if bucket is None:
            bucket = self.seconds[second] = _Second()
        bucket.codes[_CODE_INDEX[code]] += 1
        if latency is None:
            return
        index = _bucket(latency)
        bucket.histogram[index] = bucket.histogram.get(index, 0) + 1
        bucket.observed += 1
        if len(bucket.samples) < RESERVOIR:
            bucket.samples.append(latency)
        else:  # Algorithm R: every latency of the second is kept with equal chance
            slot = rng.randrange(bucket.observed)
            if slot < RESERVOIR:
                bucket.samples[slot] = latency

    def prune(self, oldest: int) -> None:
        for second in [s for s in self.seconds if s < oldest]:
            del self.seconds[second]


class Stats:
    """Stats of every revision the proxy routed to, keyed by (namespace, service, revision)."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()
        self._revisions: dict[tuple[str, str, str], _Revision] = {}

    def record(
        self,
        key: tuple[str, str, str],
        *,
        now: float,
        code: str,
        latency: float | None,
    ) -> None:
        """Count one finished request (`latency` None for a connection error)."""
        rev = self._revisions.get(key)
        if rev is None:
            rev = self._revisions[key] = _Revision()
        second = math.floor(now)
        rev.record(second, code, latency, self._rng)
        if len(rev.seconds) > KEEP_S:
            rev.prune(second - KEEP_S + 1)

    def sweep(self, now: float) -> None:
        """Drop buckets older than `KEEP_S`, and revisions left with none."""
        oldest = math.floor(now) - KEEP_S + 1
        for key in list(self._revisions):
            rev = self._revisions[key]
            rev.prune(oldest)
            if not rev.seconds:
                del self._revisions[key]

    def query(
        self,
        key: tuple[str, str, str],
        *,
        since: float,
        until: float,
        samples: int = 0,
        now: float,
        slower_than: float | None = None,
    ) -> dict[str, Any]:
        """The stats of one revision over the seconds `s` with `since <= s < until`
        (with `slower_than`, also `timed`, `slow` and `slowerThan`: the module)."""
        codes = [0] * len(CODES)
        histogram: dict[int, int] = {}
        weighted: list[tuple[float, float]] = []  # (weight, latency)
        oldest = math.floor(now) - KEEP_S + 1
        rev = self._revisions.get(key)
        for second, bucket in rev.seconds.items() if rev else ():
            if second < oldest or not since <= second < until:
                continue
            for i, n in enumerate(bucket.codes):
                codes[i] += n
            for index, n in bucket.histogram.items():
                histogram[index] = histogram.get(index, 0) + n
            if samples and bucket.samples:
                weight = bucket.observed / len(bucket.samples)
                weighted.extend((weight, x) for x in bucket.samples)
        by_code = dict(zip(CODES, codes, strict=True))
        latency = None
        if histogram:
            latency = {f"p{round(q * 100)}": quantile(histogram, q) for q in (0.5, 0.9, 0.99)}
        answer = {
            "requests": sum(codes),
            "errors": by_code["5xx"] + by_code["error"],
            "codes": by_code,
            "latency": latency,
            "samples": [round(x, 6) for x in self._draw(weighted, samples)],
            "since": since,
            "until": until,
        }
        if slower_than is not None:
            fast = _bucket(slower_than)  # buckets above this one are wholly slower
            answer["timed"] = sum(histogram.values())
            answer["slow"] = sum(n for index, n in histogram.items() if index > fast)
            answer["slowerThan"] = slower_than
        return answer

    def _draw(self, weighted: list[tuple[float, float]], n: int) -> list[float]:
        """At most `n` samples, each second weighted by the requests it stands for
        (Efraimidis–Spirakis weighted sampling without replacement)."""
        if n <= 0:
            return []
        if len(weighted) <= n:
            return [x for _, x in weighted]
        keyed = ((self._rng.random() ** (1.0 / w), x) for w, x in weighted)
        return [x for _, x in heapq.nlargest(n, keyed)]
