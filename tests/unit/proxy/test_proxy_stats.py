"""The proxy's per-revision stats: windows, code classes, quantiles, samples, memory."""

from __future__ import annotations

import random

import numpy as np
import pytest

from rollout.platforms.local.proxy import stats

KEY = ("default", "web", "web-00001")
T0 = 1_700_000_000.0


def _stats() -> stats.Stats:
    return stats.Stats(random.Random(3))


@pytest.mark.parametrize(
    ("status", "code"),
    [(200, "2xx"), (204, "2xx"), (301, "3xx"), (404, "4xx"), (503, "5xx"), (None, "error")],
    ids=["200", "204", "301", "404", "503", "no-answer"],
)
def test_code_class(status: int | None, code: str) -> None:
    """HTTP statuses map to their class; no answer is `error`."""
    assert stats.code_class(status) == code


class TestWindows:
    def test_window_is_whole_seconds_since_inclusive_until_exclusive(self) -> None:
        """Seconds s with since <= s < until are counted, others not."""
        st = _stats()
        for second in range(10):
            for _ in range(second + 1):  # second i has i+1 requests
                st.record(KEY, now=T0 + second + 0.5, code="2xx", latency=0.01)
        window = st.query(KEY, since=T0 + 2, until=T0 + 5, now=T0 + 10)
        assert window["requests"] == 3 + 4 + 5
        assert window["since"] == T0 + 2
        assert window["until"] == T0 + 5

    def test_codes_and_errors(self) -> None:
        """errors = 5xx + connection errors; each class is counted."""
        st = _stats()
        for code, n in {"2xx": 7, "3xx": 1, "4xx": 2, "5xx": 3, "error": 4}.items():
            for _ in range(n):
                st.record(KEY, now=T0, code=code, latency=None if code == "error" else 0.1)
        window = st.query(KEY, since=T0, until=T0 + 1, now=T0)
        assert window["codes"] == {"2xx": 7, "3xx": 1, "4xx": 2, "5xx": 3, "error": 4}
        assert window["requests"] == 17
        assert window["errors"] == 7

    def test_unknown_revision_has_zero_requests_and_no_latency(self) -> None:
        """No data is zeros and latency null, not an error."""
        window = _stats().query(KEY, since=T0, until=T0 + 60, samples=10, now=T0)
        assert (window["requests"], window["latency"], window["samples"]) == (0, None, [])

    def test_revisions_are_separate(self) -> None:
        """A request counts for its own revision only."""
        st = _stats()
        st.record(KEY, now=T0, code="2xx", latency=0.1)
        other = ("default", "web", "web-00002")
        assert st.query(other, since=T0, until=T0 + 1, now=T0)["requests"] == 0

    def test_older_than_fifteen_minutes_is_forgotten(self) -> None:
        """Buckets beyond KEEP_S are not counted and are freed."""
        st = _stats()
        st.record(KEY, now=T0, code="2xx", latency=0.1)
        later = T0 + stats.KEEP_S + 1
        assert st.query(KEY, since=T0 - 1, until=later, now=later)["requests"] == 0
        st.sweep(later)
        assert st._revisions == {}

    def test_memory_bounded_by_seconds_kept(self) -> None:
        """A revision never holds more than KEEP_S + 1 buckets."""
        st = _stats()
        for second in range(stats.KEEP_S * 2):
            st.record(KEY, now=T0 + second, code="2xx", latency=0.01)
        assert len(st._revisions[KEY].seconds) <= stats.KEEP_S + 1


class TestLatency:
    @pytest.mark.parametrize(
        "distribution",
        ["lognormal", "uniform", "bimodal"],
    )
    def test_quantiles_within_three_percent(self, distribution: str) -> None:
        """p50/p90/p99 from the histogram are within 3% of the exact sample quantiles."""
        rng = np.random.default_rng(5)
        values = {
            "lognormal": rng.lognormal(mean=-3, sigma=0.7, size=20_000),
            "uniform": rng.uniform(0.001, 2.0, size=20_000),
            "bimodal": np.concatenate(
                [rng.normal(0.02, 0.002, 18_000), rng.normal(0.5, 0.05, 2_000)]
            ),
        }[distribution]
        st = _stats()
        for i, v in enumerate(values):
            st.record(KEY, now=T0 + i % 30, code="2xx", latency=float(abs(v)))
        latency = st.query(KEY, since=T0, until=T0 + 30, now=T0 + 30)["latency"]
        ordered = np.sort(np.abs(values))
        for q in (0.5, 0.9, 0.99):
            exact = ordered[int(np.ceil(q * len(ordered))) - 1]
            assert latency[f"p{round(q * 100)}"] == pytest.approx(exact, rel=0.03)

    def test_connection_errors_have_no_latency(self) -> None:
        """Only answered requests enter the latency quantiles."""
        st = _stats()
        st.record(KEY, now=T0, code="error", latency=None)
        assert st.query(KEY, since=T0, until=T0 + 1, now=T0)["latency"] is None

    def test_empty_histogram_has_no_quantile(self) -> None:
        """quantile() of nothing is None."""
        assert stats.quantile({}, 0.5) is None


class TestSamples:
    def test_reservoir_is_bounded_per_second(self) -> None:
        """At most RESERVOIR samples are kept for one second, however many requests."""
        st = _stats()
        for i in range(5_000):
            st.record(KEY, now=T0, code="2xx", latency=0.001 * (i % 100))
        assert len(st._revisions[KEY].seconds[int(T0)].samples) == stats.RESERVOIR

    def test_at_most_n_samples_and_all_when_fewer(self) -> None:
        """`samples=N` caps the list; with fewer kept, every one comes back."""
        st = _stats()
        for i in range(50):
            st.record(KEY, now=T0 + i % 5, code="2xx", latency=0.01 * (i + 1))
        assert len(st.query(KEY, since=T0, until=T0 + 5, samples=20, now=T0)["samples"]) == 20
        every = st.query(KEY, since=T0, until=T0 + 5, samples=500, now=T0)["samples"]
        assert sorted(every) == pytest.approx([0.01 * (i + 1) for i in range(50)])
        assert st.query(KEY, since=T0, until=T0 + 5, now=T0)["samples"] == []

    def test_busy_seconds_weigh_more(self) -> None:
        """A second with 10× the requests gives about 10× the samples (unbiased mix)."""
        st = _stats()
        for _ in range(2_560):
            st.record(KEY, now=T0, code="2xx", latency=1.0)  # busy second: value 1.0
        for _ in range(256):
            st.record(KEY, now=T0 + 1, code="2xx", latency=2.0)  # quiet second: value 2.0
        drawn = st.query(KEY, since=T0, until=T0 + 2, samples=220, now=T0 + 2)["samples"]
        share_busy = drawn.count(1.0) / len(drawn)
        assert share_busy == pytest.approx(10 / 11, abs=0.06)
