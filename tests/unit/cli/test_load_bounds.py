"""`rollout load` is bounded: the rate, the duration and numbers that are not numbers
are refused (one line, exit 2); no more than `max_in_flight` requests are ever
outstanding, even when the generator runs late; latencies are kept in a histogram
whose size does not grow with the run."""

from __future__ import annotations

import asyncio
import math
import random

import pytest
from aiohttp import web
from click.testing import CliRunner

from rollout.cli import main
from rollout.platforms.local import loadgen

URL = "http://127.0.0.1:9/"  # never reached: every case is refused before sending


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rps", "1e9"], "error: --rps 1e+09: at most 5000 requests a second"),
        (["--rps", "5001"], "error: --rps 5001: at most 5000 requests a second"),
        (["--rps", "nan"], "error: --rps nan: must be a finite number"),
        (["--rps", "inf"], "error: --rps inf: must be a finite number"),
        (["--rps", "1", "--duration", "25h"], "error: --duration 25h: at most 24h"),
        (
            ["--rps", "1", "--timeout", "inf"],
            "error: --timeout inf: must be a finite number of seconds",
        ),
        (
            ["--rps", "1", "--timeout", "nan"],
            "error: --timeout nan: must be a finite number of seconds",
        ),
    ],
    ids=["rps-1e9", "rps-over", "rps-nan", "rps-inf", "duration-25h", "timeout-inf", "timeout-nan"],
)
def test_out_of_bounds_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main.cli, ["load", URL, "-q", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert (result.exit_code, result.stderr) == (2, message + "\n")
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rps": 1e9, "duration": 1.0}, "rps must be at most 5000"),
        ({"rps": math.nan, "duration": 1.0}, "rps must be a finite number above 0"),
        ({"rps": 1.0, "duration": 90_000.0}, "duration must be at most 86400 s"),
        ({"rps": 1.0, "duration": math.inf}, "duration must be a finite number above 0"),
        ({"rps": 1.0, "duration": 1.0, "max_in_flight": 0}, "max_in_flight must be between"),
    ],
    ids=["rps", "rps-nan", "duration", "duration-inf", "in-flight"],
)
def test_run_open_refuses_out_of_bounds(kwargs: dict[str, float], match: str) -> None:
    """The library entry point checks the same bounds (callers other than the CLI)."""
    with pytest.raises(ValueError, match=match):
        asyncio.run(loadgen.run_open(URL, **kwargs))  # type: ignore[arg-type]


async def _late_run(*, hold: float, max_in_flight: int) -> loadgen.LoadResult:
    """The fastest rate for 0.2 s against a server that holds every request `hold` s."""

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(hold)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        return await loadgen.run_open(
            f"http://127.0.0.1:{port}/",
            rps=loadgen.MAX_RPS,
            duration=0.2,
            max_in_flight=max_in_flight,
        )
    finally:
        await runner.cleanup()


def test_in_flight_never_exceeds_the_bound_even_when_late() -> None:
    """At 5000/s the loop is often behind its schedule; no request answers within the
    run, so exactly `max_in_flight` are sent and the rest are skipped."""
    result = asyncio.run(_late_run(hold=1.5, max_in_flight=5))
    assert (result.sent, result.peak_in_flight) == (5, 5)
    assert result.skipped == 1000 - 5
    assert result.codes["2xx"] == 5
    assert result.as_json()["peakInFlight"] == 5


def test_a_long_run_keeps_a_bounded_number_of_samples() -> None:
    """A day at 5000/s is 432 M latencies; the histogram holds counters, never more
    than MAX_BUCKETS of them, however many values it has seen."""
    tally = loadgen._Tally()
    rng = random.Random(7)
    for _ in range(200_000):
        tally.latencies.record(rng.lognormvariate(-4, 1.5))  # 0.1 ms … seconds
        tally.lags.record(rng.expovariate(1000))
    assert tally.latencies.count == 200_000
    assert len(tally.latencies.counts) <= loadgen.Histogram.MAX_BUCKETS
    assert len(tally.lags.counts) <= loadgen.Histogram.MAX_BUCKETS
    assert loadgen.Histogram.MAX_BUCKETS < 1500
    before = len(tally.latencies.counts)
    for _ in range(100_000):  # more of the same: no new counters to speak of
        tally.latencies.record(rng.lognormvariate(-4, 1.5))
    assert len(tally.latencies.counts) <= before + 20


def test_histogram_quantiles_are_within_one_percent() -> None:
    """Against the exact nearest-rank quantiles of the same values; max is exact."""
    rng = random.Random(11)
    values = [rng.lognormvariate(-3, 1.0) for _ in range(20_000)]
    histogram = loadgen.Histogram()
    for value in values:
        histogram.record(value)
    ordered = sorted(values)
    for q in (0.5, 0.9, 0.99, 0.999):
        exact = loadgen.percentile(ordered, q)
        approx = histogram.quantile(q)
        assert exact is not None
        assert approx is not None
        assert abs(approx - exact) <= 0.01 * exact, q
    assert histogram.max == ordered[-1]
    assert loadgen.Histogram().quantile(0.5) is None


def test_revision_counts_are_bounded() -> None:
    """A server naming a new revision in every answer cannot grow the counts: past
    MAX_REVISIONS names, the rest are counted together as `(other)`."""

    async def scenario() -> loadgen.LoadResult:
        served = 0

        async def new_name(request: web.Request) -> web.Response:
            nonlocal served
            served += 1
            return web.Response(text="ok", headers={loadgen.REVISION_HEADER: f"r-{served}"})

        app = web.Application()
        app.router.add_get("/", new_name)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            port = runner.addresses[0][1]
            return await loadgen.run_open(f"http://127.0.0.1:{port}/", rps=1000, duration=0.3)
        finally:
            await runner.cleanup()

    result = asyncio.run(scenario())
    assert result.codes["2xx"] == 300
    assert len(result.by_revision) == loadgen.MAX_REVISIONS + 1
    assert result.by_revision[loadgen.OTHER_REVISIONS] == 300 - loadgen.MAX_REVISIONS
