"""The chaos benchmark's load: `--rps` requests a second to each service, open loop
(request i of a service is due at start + i / rps, sent then whatever the answers'
speed), keep-alive, a 10 s total timeout — as `rollout load` — until SIGTERM, and one
JSON line per request in the `out` file of its config:

    [sent, answered, service, status (0: no HTTP answer), Rollout-Revision, why]

`why` is empty for a 2xx; "app" for the demo app's own failures (500 with a body
ending ": failed"); the body's first 200 characters for another HTTP error (the
proxy's start "rollout proxy: "); for no HTTP answer "refused", "disconnected",
"reset", "timeout" or the error's text. At most 2000 requests are in flight (more
cannot be: a request times out after 10 s, and 2000 is 10 s of 200 req/s).

Its own process (`python bench/chaos_load.py CONFIG.json`, started and stopped by its
pid by `chaos_local.py`), so that the benchmark's other work never delays a request.
It must not read anything but its config and the answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import pathlib
import signal
import sys
import time
from typing import Any

import aiohttp


def load_worker(config_path: str) -> None:
    """Send `rps` requests a second to each service until SIGTERM; one JSON line per
    answer: [sent, answered, service, status (0: no HTTP answer), revision, why]."""
    config = json.loads(pathlib.Path(config_path).read_text())
    asyncio.run(_load(config))


async def _load(config: dict[str, Any]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    rps = float(config["rps"])
    out = open(config["out"], "a", buffering=1 << 16)  # noqa: SIM115 - closed below
    tasks: set[asyncio.Task[None]] = set()

    async def one(session: aiohttp.ClientSession, service: str, url: str) -> None:
        sent = time.time()
        code, revision, why = 0, None, ""
        try:
            async with session.get(url, allow_redirects=False) as resp:
                body = await resp.read()
                code, revision = resp.status, resp.headers.get("Rollout-Revision")
                text = body[:200].decode(errors="replace").strip()
                if code >= 300:
                    why = "app" if code == 500 and text.endswith(": failed") else text
        except aiohttp.ClientConnectorError as exc:
            why = "refused" if exc.os_error.errno == errno.ECONNREFUSED else f"connect: {exc}"
        except aiohttp.ServerDisconnectedError:
            why = "disconnected"
        except aiohttp.ClientOSError as exc:
            why = "reset" if exc.errno == errno.ECONNRESET else f"os: {exc}"
        except TimeoutError:
            why = "timeout"
        except aiohttp.ClientError as exc:
            why = f"{type(exc).__name__}: {exc}"
        line = [round(sent, 4), round(time.time(), 4), service, code, revision, why]
        out.write(json.dumps(line) + "\n")

    async def drive(session: aiohttp.ClientSession, service: str, url: str) -> None:
        start = time.monotonic()
        i = 0
        while not stop.is_set():
            delay = start + i / rps - time.monotonic()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                continue
            i += 1
            if len(tasks) < 2000:  # beyond that the requests are skipped, not queued
                task = asyncio.ensure_future(one(session, service, url))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

    async def flush() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            out.flush()

    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=2000),
        timeout=aiohttp.ClientTimeout(total=float(config.get("timeout", 10.0))),
        cookie_jar=aiohttp.DummyCookieJar(),
    )
    try:
        drivers = [drive(session, s, u) for s, u in config["services"].items()]
        await asyncio.gather(flush(), *drivers)
        if tasks:
            await asyncio.wait(set(tasks), timeout=15)
    finally:
        await session.close()
        out.close()


if __name__ == "__main__":
    load_worker(sys.argv[1])
