"""End to end: the proxy's request rules (header routes, mirrors, sticky sessions) as
its own process (started by `ensure_proxy`), real HTTP through it to stdlib upstream
servers on free 127.0.0.1 ports that count what they receive.

As in test_proxy_e2e, the harness plays the runtime's part and writes a run file for
each upstream a route names. Every wait is on a condition with a deadline; the proxy
is stopped by its PID at the end of the module (and checked gone), the upstream
servers are shut down.
"""

from __future__ import annotations

import asyncio
import collections
import http.server
import json
import math
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import pytest
from prometheus_client import parser
from proxyharness import HarnessClient

from rollout.api import matching
from rollout.platforms.local.proxy import client

NS = "default"
WAIT = 10.0  # seconds: the deadline of every wait in this module
COOKIE = "rollout-canary"


def _wait_for(predicate: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Upstream:
    """A stdlib HTTP/1.1 server in a thread, answering as revision `name`: JSON of its
    name and the body length it read, after `delay` seconds, with `status`. It counts
    the requests it received and keeps the last one's headers."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.status = 200
        self.delay = 0.0
        self.hits = 0
        self.bodies: list[int] = []  # body lengths, in order
        self.last_headers: dict[str, str] = {}
        self._lock = threading.Lock()
        upstream = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length) if length else b""
                with upstream._lock:
                    upstream.hits += 1
                    upstream.bodies.append(len(body))
                    upstream.last_headers = dict(self.headers.items())
                if upstream.delay:
                    time.sleep(upstream.delay)
                out = json.dumps({"name": upstream.name, "length": len(body)}).encode()
                self.send_response(upstream.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = _answer

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def reset(self, *, status: int = 200, delay: float = 0.0) -> None:
        with self._lock:
            self.hits, self.bodies, self.status, self.delay = 0, [], status, delay

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(WAIT)


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HarnessClient]:
    state_dir = tmp_path_factory.mktemp("proxy-rules-state")
    started = HarnessClient(client.ensure_proxy(state_dir), state_dir)
    state = client.read_state(state_dir)
    assert state is not None
    pid = state[0]
    try:
        yield started
    finally:
        assert client.stop_proxy(state_dir)
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Upstream, Upstream]]:
    stable, canary = Upstream("stable"), Upstream("canary")
    yield stable, canary
    stable.close()
    canary.close()


@pytest.fixture
def stable(servers: tuple[Upstream, Upstream]) -> Upstream:
    servers[0].reset()
    return servers[0]


@pytest.fixture
def canary(servers: tuple[Upstream, Upstream]) -> Upstream:
    servers[1].reset()
    return servers[1]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _put(
    proxy: HarnessClient,
    service: str,
    stable_url: str,
    canary_url: str | None,
    canary: int,
    **rules: Any,
) -> client.Route:
    """A two-revision route (`<service>-1` stable, `<service>-2` canary) with rules."""
    return proxy.put_route(
        NS,
        service,
        port=None,
        targets=[
            client.RouteTarget(f"{service}-1", stable_url, 100 - canary, "stable"),
            client.RouteTarget(f"{service}-2", canary_url, canary, "canary"),
        ],
        **rules,
    )


def _header_route(service: str, match: list[dict[str, Any]]) -> matching.HeaderRoute:
    return matching.HeaderRoute.model_validate(
        {"name": "ab", "match": match, "revisionName": f"{service}-2"}
    )


def _mirror(service: str, percent: int) -> matching.Mirror:
    return matching.Mirror.model_validate(
        {"name": "shadow", "percent": percent, "revisionName": f"{service}-2"}
    )


def _sticky(service: str, value: str = "rel-1") -> matching.StickySession:
    return matching.StickySession.model_validate(
        {"cookieName": COOKIE, "cookieValue": value, "maxAge": "1h", "revisionName": f"{service}-2"}
    )


Answer = tuple[int, str, str, str]  # status, Rollout-Revision, body's name, Set-Cookie


def _fire(
    url: str,
    n: int,
    *,
    headers: dict[str, str] | None = None,
    concurrency: int = 8,
    data: bytes | None = None,
) -> collections.Counter[Answer]:
    """Send exactly n requests (POST with `data`); count what came back."""

    async def main() -> collections.Counter[Answer]:
        counts: collections.Counter[Answer] = collections.Counter()
        left = iter(range(n))
        jar = aiohttp.DummyCookieJar()
        async with aiohttp.ClientSession(cookie_jar=jar) as session:

            async def worker() -> None:
                for _ in left:
                    method = "POST" if data is not None else "GET"
                    async with session.request(
                        method, url, headers=headers or {}, data=data
                    ) as resp:
                        body = await resp.read()
                        name = json.loads(body)["name"] if resp.status == 200 else ""
                        counts[
                            (
                                resp.status,
                                resp.headers.get("Rollout-Revision", ""),
                                name,
                                resp.headers.get("Set-Cookie", ""),
                            )
                        ] += 1

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        return counts

    return asyncio.run(main())


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=WAIT) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _metric(proxy: client.ProxyClient, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`."""
    total = 0.0
    for family in parser.text_string_to_metric_families(proxy.metrics()):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
    return total


def _stats(proxy: client.ProxyClient, service: str, revision: str) -> client.StatsWindow:
    now = time.time()
    return proxy.stats(NS, service, revision, since=now - 60, until=now + 2)


def _binomial(count: int, n: int, p: float, sigmas: float = 5.0) -> bool:
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p)) + 1


class TestHeaderRoutes:
    @pytest.mark.parametrize("weight", [0, 30, 90], ids=["weight-0", "weight-30", "weight-90"])
    def test_matches_reach_the_canary_and_the_rest_follow_weights(
        self, proxy: HarnessClient, stable: Upstream, canary: Upstream, weight: int
    ) -> None:
        """A header or a cookie match → the canary, every time; the rest by weight."""
        match = [{"header": "X-User", "regex": "beta-[0-9]+"}, {"cookie": "group", "exact": "b"}]
        route = _put(
            proxy, f"hdr{weight}", stable.url, canary.url, weight,
            header_routes=[_header_route(f"hdr{weight}", match)],
        )  # fmt: skip
        canary_answer = (200, f"hdr{weight}-2", "canary", "")
        assert _fire(route.url, 100, headers={"X-User": "beta-42"}) == {canary_answer: 100}
        cookie = {"Cookie": "a=1; group=b"}
        assert _fire(route.url, 100, headers=cookie) == {canary_answer: 100}
        n = 2000
        others = _fire(route.url, n, headers={"X-User": "beta-x", "Cookie": "group=c"})
        assert sum(others.values()) == n
        assert set(others) <= {(200, f"hdr{weight}-1", "stable", ""), canary_answer}
        assert _binomial(others[canary_answer], n, weight / 100), others

    def test_a_header_route_to_a_dead_canary_is_a_502_not_the_stable(
        self, proxy: HarnessClient, stable: Upstream
    ) -> None:
        """Matched users asked for the canary: its absence is an error they see."""
        route = _put(
            proxy, "dead", stable.url, None, 0,
            header_routes=[_header_route("dead", [{"header": "X-User", "exact": "beta"}])],
        )  # fmt: skip
        status, _, body = _get(route.url, {"X-User": "beta"})
        assert status == 502
        assert b"header route 'ab'" in body
        assert b"is not ready" in body
        assert stable.hits == 0
        assert _get(route.url)[0] == 200


class TestMirrors:
    def test_a_100_percent_mirror_copies_every_request(
        self, proxy: HarnessClient, stable: Upstream, canary: Upstream
    ) -> None:
        """Every copy arrives at the canary and is counted under it (stats, metrics);
        clients get the stable's answers only."""
        route = _put(proxy, "mir", stable.url, canary.url, 0, mirrors=[_mirror("mir", 100)])
        n = 300
        assert _fire(route.url, n) == {(200, "mir-1", "stable", ""): n}
        _wait_for(lambda: canary.hits == n, f"{n} copies at the canary (got {canary.hits})")
        assert canary.last_headers["Rollout-Mirror"] == "shadow"
        _wait_for(
            lambda: _stats(proxy, "mir", "mir-2").requests == n, "the copies in the canary's stats"
        )
        assert _stats(proxy, "mir", "mir-1").requests == n
        mirrored = _metric(proxy, "rollout_proxy_mirrored_total", service="mir", revision="mir-2")
        assert mirrored == n

    def test_a_10_percent_mirror_copies_a_tenth(
        self, proxy: HarnessClient, stable: Upstream, canary: Upstream
    ) -> None:
        """10 % of 3000 requests, within 5 binomial sigmas, counted at the canary."""
        route = _put(proxy, "mir10", stable.url, canary.url, 0, mirrors=[_mirror("mir10", 10)])
        n = 3000
        assert _fire(route.url, n) == {(200, "mir10-1", "stable", ""): n}

        def settled() -> bool:
            done = _metric(
                proxy, "rollout_proxy_mirrored_total", service="mir10", revision="mir10-2"
            )
            return done == canary.hits

        _wait_for(settled, "every copy sent to be counted")
        assert _binomial(canary.hits, n, 0.1), canary.hits

    def test_a_slow_canary_does_not_slow_clients(
        self, proxy: HarnessClient, stable: Upstream, canary: Upstream
    ) -> None:
        """A canary answering in 1 s: clients get the stable's latency; the copies are
        measured with the canary's."""
        canary.reset(delay=1.0)
        route = _put(proxy, "slow", stable.url, canary.url, 0, mirrors=[_mirror("slow", 100)])
        n = 20
        started = time.monotonic()
        for _ in range(n):
            once = time.monotonic()
            status, headers, _ = _get(route.url)
            assert (status, headers["Rollout-Revision"]) == (200, "slow-1")
            assert time.monotonic() - once < 0.5
        assert time.monotonic() - started < n * 0.25  # copies overlap, never awaited
        _wait_for(lambda: _stats(proxy, "slow", "slow-2").requests == n, "the copies' answers")
        latency = _stats(proxy, "slow", "slow-2").latency
        assert latency is not None
        assert latency["p50"] >= 0.95
        stable_latency = _stats(proxy, "slow", "slow-1").latency
        assert stable_latency is not None
        assert stable_latency["p99"] < 0.5

    @pytest.mark.parametrize("failure", ["500", "refused"])
    def test_canary_errors_never_reach_clients(
        self, proxy: HarnessClient, stable: Upstream, canary: Upstream, failure: str
    ) -> None:
        """A canary answering 500, or refusing connections: clients see 200s from the
        stable; the canary's stats count the errors."""
        service = f"err{failure}"
        url = canary.url
        if failure == "500":
            canary.reset(status=500)
        else:
            url = f"http://127.0.0.1:{_closed_port()}"
        route = _put(proxy, service, stable.url, url, 0, mirrors=[_mirror(service, 100)])
        n = 100
        assert _fire(route.url, n) == {(200, f"{service}-1", "stable", ""): n}
        _wait_for(lambda: _stats(proxy, service, f"{service}-2").errors == n, "the copies' errors")
        assert _stats(proxy, service, f"{service}-1").errors == 0

    def test_small_bodies_are_copied_large_ones_skipped(
        self, proxy: HarnessClient, stable: Upstream, canary: Upstream
    ) -> None:
        """A POST of 1 KiB reaches both with its body; one of 1 MiB only the stable,
        whole, and the copy is counted as skipped."""
        route = _put(proxy, "body", stable.url, canary.url, 0, mirrors=[_mirror("body", 100)])
        small, large = b"s" * 1024, b"L" * (1024 * 1024)
        assert _fire(route.url, 10, data=small) == {(200, "body-1", "stable", ""): 10}
        _wait_for(lambda: canary.hits == 10, "the small bodies' copies")
        assert canary.bodies == [1024] * 10
        assert stable.bodies == [1024] * 10
        assert _fire(route.url, 3, data=large) == {(200, "body-1", "stable", ""): 3}
        assert stable.bodies[-3:] == [len(large)] * 3
        skipped = _metric(
            proxy, "rollout_proxy_mirror_skipped_total", service="body", reason="body"
        )
        assert skipped == 3
        assert canary.hits == 10


class TestStickySessions:
    def test_sticky_clients_hold_while_weights_grow_and_release_on_rollback(
        self, proxy: HarnessClient, stable: Upstream, canary: Upstream
    ) -> None:
        """Clients the canary served keep its cookie and stay there at 10, 50 and 90 %;
        without sessionAffinity (a rollback at 0 %) they are all back on the stable."""
        sticky = _sticky("st")
        cookie_line = f"{COOKIE}=rel-1; Max-Age=3600; Path=/; HttpOnly"
        clients = 150
        jars: list[str | None] = [None] * clients  # each client's cookie

        def visit(i: int) -> str:
            headers = {"Cookie": jars[i]} if jars[i] else {}
            status, answer, _ = _get(route.url, headers)
            assert status == 200
            set_cookie = answer.get("Set-Cookie")
            if answer["Rollout-Revision"] == "st-2":
                assert set_cookie == cookie_line  # the canary's answers set it
                jars[i] = set_cookie.split(";")[0]
            else:
                assert set_cookie is None
            return answer["Rollout-Revision"]

        route = _put(proxy, "st", stable.url, canary.url, 10, session_affinity=sticky)
        first = [visit(i) for i in range(clients)]
        on_canary = {i for i, served in enumerate(first) if served == "st-2"}
        assert 0 < len(on_canary) < clients
        for weight in (10, 50, 90):
            route = _put(proxy, "st", stable.url, canary.url, weight, session_affinity=sticky)
            for i in range(clients):
                served = visit(i)
                if i in on_canary:
                    assert served == "st-2", f"client {i} left the canary at {weight} %"
                elif served == "st-2":
                    on_canary.add(i)
        # rollback: the canary at 0 %, no sessionAffinity: every client on the stable
        route = _put(proxy, "st", stable.url, canary.url, 0)
        assert {visit(i) for i in range(clients)} == {"st-1"}

    def test_an_earlier_releases_cookie_is_ignored(
        self, proxy: HarnessClient, stable: Upstream, canary: Upstream
    ) -> None:
        """A cookie with another value follows the weights (here: all to the stable)."""
        route = _put(
            proxy, "old", stable.url, canary.url, 0, session_affinity=_sticky("old", "rel-2")
        )
        old = {"Cookie": f"{COOKIE}=rel-1"}
        assert _fire(route.url, 50, headers=old) == {(200, "old-1", "stable", ""): 50}
        current = {"Cookie": f"{COOKIE}=rel-2"}
        cookie_line = f"{COOKIE}=rel-2; Max-Age=3600; Path=/; HttpOnly"
        assert _fire(route.url, 50, headers=current) == {(200, "old-2", "canary", cookie_line): 50}

    def test_rules_are_read_back(
        self, proxy: HarnessClient, stable: Upstream, canary: Upstream
    ) -> None:
        """GET answers the rules the proxy holds (what the LocalRouter reads back)."""
        routes = [_header_route("rb", [{"header": "X-User", "exact": "beta"}])]
        mirrors = [_mirror("rb", 5)]
        put = _put(
            proxy, "rb", stable.url, canary.url, 0,
            header_routes=routes, mirrors=mirrors, session_affinity=_sticky("rb"),
        )  # fmt: skip
        held = proxy.get_route(NS, "rb")
        assert held == put
        assert held is not None
        assert (held.header_routes, held.mirrors, held.session_affinity) == (
            tuple(routes),
            tuple(mirrors),
            _sticky("rb"),
        )
