"""`rollout load URL --rps N --duration D`: drive HTTP load at a fixed rate (open loop)
and report status classes, connection errors, latency quantiles and which revisions
served the requests (the proxy's `Rollout-Revision` header).

A progress line on stderr (rewritten in place on a terminal, one line a second
otherwise); a summary on stdout, or one JSON object with `--json`. Exit 1 when no
request got an HTTP answer (nothing listens at URL), 2 on a usage error — including
a rate above `loadgen.MAX_RPS` (5000/s), a duration above `loadgen.MAX_DURATION`
(24h), or a NaN or infinite number: the generator's memory stays bounded (requests
in flight, latencies kept as a histogram).
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time

import click

from rollout.api import durations
from rollout.cli import common
from rollout.platforms.local import loadgen

__all__ = ["load_command"]


def _headers(values: tuple[str, ...]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for value in values:
        name, sep, content = value.partition(":")
        if not sep or not name.strip():
            common.fail(f"--header {value!r} is not NAME:VALUE", code=2)
        headers[name.strip()] = content.strip()
    return headers


class _ProgressLine:
    """One status line on stderr: in place on a terminal, once a second otherwise."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, progress: loadgen.Progress) -> None:
        if self.quiet:
            return
        if self.tty:
            sys.stderr.write("\r\x1b[2K" + progress.line())
            sys.stderr.flush()
        elif time.monotonic() - self.last >= 1.0:
            self.last = time.monotonic()
            click.echo(progress.line(), err=True)

    def end(self) -> None:
        if self.tty and not self.quiet:
            sys.stderr.write("\n")


@click.command("load")
@click.argument("url")
@click.option(
    "--rps",
    type=click.FloatRange(min=0.1),
    required=True,
    help=f"Requests a second (at most {loadgen.MAX_RPS:g}).",
)
@click.option(
    "--duration",
    default="30s",
    show_default=True,
    help="How long: 500ms, 30s, 2m, 1h (at most 24h).",
)
@click.option(
    "-H",
    "--header",
    "header_values",
    multiple=True,
    metavar="NAME:VALUE",
    help="A request header (repeatable), e.g. 'Rollout-Tag: canary'.",
)
@click.option("--method", default="GET", show_default=True)
@click.option(
    "--timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
    help="Seconds before a request counts as a connection error.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@click.option("-q", "--quiet", is_flag=True, help="No progress line.")
def load_command(
    url: str,
    rps: float,
    duration: str,
    header_values: tuple[str, ...],
    method: str,
    timeout: float,
    as_json: bool,
    quiet: bool,
) -> None:
    """Send HTTP requests to URL at a fixed rate, whatever the answers' speed.

    \b
    Examples:
      rollout load http://127.0.0.1:8080/ --rps 50 --duration 1m
      rollout load http://127.0.0.1:8080/ --rps 5 --duration 10s -H 'Rollout-Tag: canary' --json
    """
    if not url.startswith(("http://", "https://")):
        common.fail(f"URL {url!r} must start with http:// or https://", code=2)
    try:
        seconds = durations.parse_duration(duration).total_seconds()
    except ValueError as exc:
        common.fail(f"--duration: {exc}", code=2)
    if seconds <= 0:
        common.fail("--duration must be more than 0", code=2)
    if not math.isfinite(rps):
        common.fail(f"--rps {rps:g}: must be a finite number", code=2)
    if rps > loadgen.MAX_RPS:
        common.fail(f"--rps {rps:g}: at most {loadgen.MAX_RPS:g} requests a second", code=2)
    if seconds > loadgen.MAX_DURATION:
        common.fail(f"--duration {duration}: at most 24h", code=2)
    if not math.isfinite(timeout):
        common.fail(f"--timeout {timeout:g}: must be a finite number of seconds", code=2)
    try:
        loadgen.check_bounds(rps=rps, duration=seconds, timeout=timeout)
    except ValueError as exc:
        common.fail(str(exc), code=2)
    progress = _ProgressLine(quiet)
    try:
        result = asyncio.run(
            loadgen.run_open(
                url,
                rps=rps,
                duration=seconds,
                headers=_headers(header_values),
                method=method.upper(),
                timeout=timeout,
                progress=progress,
            )
        )
    except KeyboardInterrupt:
        progress.end()
        common.fail("interrupted", code=1)
    progress.end()
    if as_json:
        click.echo(json.dumps(result.as_json()))
    else:
        click.echo(result.summary())
    if result.done and not sum(result.codes.values()):
        common.fail(f"no request to {url} got an HTTP answer", code=1)
