"""The proxy's mirror copies in process (`mirror.Mirrors` against an aiohttp test
server standing in for the canary): bounded concurrency, answers counted under the
mirror's revision, the copy's header, and the copies not sent."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any
from unittest import mock

import aiohttp
from aiohttp import test_utils, web
from prometheus_client import parser

from rollout.api import matching
from rollout.platforms.local.proxy import forward, metrics, mirror, table

SHADOW = matching.Mirror.model_validate({"name": "shadow", "percent": 100, "revisionName": "web-2"})
WAIT = 10.0
Recorded = list[tuple[tuple[str, str, str], str, float | None]]


def _request(method: str = "GET", *, length: int | None = None) -> web.Request:
    """A request from 127.0.0.1 (with a body of `length` bytes announced, unread)."""
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        ("127.0.0.1", 40000) if name == "peername" else default
    )
    headers = {"X-User": "a"}
    extra: dict[str, Any] = {}
    if length is not None:
        headers["Content-Length"] = str(length)
        extra["payload"] = mock.Mock()  # a body exists (never read here)
    return test_utils.make_mocked_request(
        method, "/path?q=1", headers=headers, transport=transport, **extra
    )


def _metric(registry: metrics.ProxyMetrics, name: str, **labels: str) -> float:
    total = 0.0
    for family in parser.text_string_to_metric_families(registry.render().decode()):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
    return total


@dataclasses.dataclass
class Harness:
    copies: mirror.Mirrors
    url: str  # the canary's
    gate: asyncio.Event  # set: the canary answers
    got: list[web.Request]  # what the canary received
    recorded: Recorded  # what the copies recorded
    registry: metrics.ProxyMetrics


def _run(
    check: Callable[[Harness], Awaitable[None]],
    *,
    max_in_flight: int = 2,
    status: int = 200,
) -> None:
    """Run `check` with Mirrors sending to a canary that answers `status` once `gate`
    is set, and keeps the requests it got."""

    async def main() -> None:
        gate = asyncio.Event()
        got: list[web.Request] = []

        async def canary(request: web.Request) -> web.Response:
            got.append(request)
            await gate.wait()
            return web.Response(status=status, text="canary")

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", canary)
        recorded: Recorded = []
        registry = metrics.ProxyMetrics()
        async with (
            test_utils.TestServer(app, host="127.0.0.1") as server,
            aiohttp.ClientSession() as session,
        ):
            copies = mirror.Mirrors(
                session=session,
                record=lambda key, code, latency: recorded.append((key, code, latency)),
                proxy_metrics=registry,
                max_in_flight=max_in_flight,
            )
            url = f"http://127.0.0.1:{server.port}"
            try:
                await check(Harness(copies, url, gate, got, recorded, registry))
            finally:
                gate.set()
                await copies.close()

    asyncio.run(main())


async def _drained(copies: mirror.Mirrors) -> None:
    async def wait() -> None:
        while copies.in_flight:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(wait(), WAIT)


LISTENER = forward.Listener("default", "web", 0, table.Table())


class TestMirrors:
    def test_copies_are_bounded_and_the_rest_dropped_and_counted(self) -> None:
        """At most max_in_flight copies at once; beyond, dropped as `saturated`."""

        async def check(h: Harness) -> None:
            target = table.Target("web-2", h.url, 0)
            for _ in range(5):
                assert await h.copies.prepare(LISTENER, _request(), SHADOW, target) is None
            assert h.copies.in_flight == 2
            h.gate.set()
            await _drained(h.copies)
            assert [(key, code) for key, code, _ in h.recorded] == [
                (("default", "web", "web-2"), "2xx")
            ] * 2
            assert all(latency is not None for _, _, latency in h.recorded)
            assert (
                _metric(h.registry, "rollout_proxy_mirror_skipped_total", reason="saturated") == 3
            )
            assert (
                _metric(h.registry, "rollout_proxy_mirrored_total", revision="web-2", code="2xx")
                == 2
            )
            assert h.got[0].headers["Rollout-Mirror"] == "shadow"
            assert h.got[0].headers["X-Forwarded-For"] == "127.0.0.1"
            assert h.got[0].path_qs == "/path?q=1"

        _run(check)

    def test_errors_are_the_canarys_answers(self) -> None:
        """A 500 of the canary is counted under it as 5xx; nothing is raised."""

        async def check(h: Harness) -> None:
            h.gate.set()
            await h.copies.prepare(LISTENER, _request(), SHADOW, table.Target("web-2", h.url, 0))
            await _drained(h.copies)
            assert [code for _, code, _ in h.recorded] == ["5xx"]

        _run(check, status=500)

    def test_a_revision_not_ready_or_a_large_body_gets_no_copy(self) -> None:
        """No URL: `not-ready`; a body without a small Content-Length: `body` (unread)."""

        async def check(h: Harness) -> None:
            await h.copies.prepare(LISTENER, _request(), SHADOW, table.Target("web-2", None, 0))
            large = _request("POST", length=mirror.MAX_BODY + 1)
            assert (
                await h.copies.prepare(LISTENER, large, SHADOW, table.Target("web-2", h.url, 0))
                is None
            )
            assert h.copies.in_flight == 0
            assert (
                _metric(h.registry, "rollout_proxy_mirror_skipped_total", reason="not-ready") == 1
            )
            assert _metric(h.registry, "rollout_proxy_mirror_skipped_total", reason="body") == 1

        _run(check)
