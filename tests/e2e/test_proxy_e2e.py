"""End to end: the proxy as its own process (started by `ensure_proxy`), real HTTP
through it to two stdlib upstream servers on free 127.0.0.1 ports.

The proxy forwards only to our revisions: the harness plays the local runtime's part
and writes a run file for each upstream a route names (`HarnessClient`), naming this
test process, which serves them. Every wait is on a condition with a deadline; the
proxy is stopped by its PID at the end of the module (and checked gone), the upstream
servers are shut down.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import http.client
import http.server
import json
import math
import os
import pathlib
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import pytest
from prometheus_client import parser
from proxyharness import HarnessClient

from rollout.platforms.local.proxy import client

NS = "default"
CHUNK = 64 * 1024
WAIT = 10.0  # seconds: the deadline of every wait in this module


def _wait_for(predicate: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _chunk(i: int) -> bytes:
    return bytes([i % 256]) * CHUNK


class Upstream:
    """A stdlib HTTP/1.1 server in a thread, answering as revision `name`.

    GET /status/<code>     that status
    GET /big?mb=N&gate=1   N MiB, chunked; with gate, waits for `gate` after the first chunk
    GET /cut               two chunks, then the connection drops
    GET /slow              one chunk, then waits for `release`, then one more
    POST /sha              reads the body (chunked or not): {"sha256", "length"}; sets
                           `got_body` after its first chunk
    anything else          JSON of what it received: name, method, path, headers
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.gate = threading.Event()
        self.release = threading.Event()
        self.got_body = threading.Event()
        self.hits = 0
        upstream = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _chunked(self, parts: Iterator[bytes]) -> None:
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for part in parts:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

            def _echo(self) -> None:
                upstream.hits += 1
                for _ in self._body():  # a kept-alive connection must be read to the end
                    pass
                url = urllib.parse.urlsplit(self.path)
                if url.path.startswith("/status/"):
                    self._send(int(url.path.rsplit("/", 1)[1]), b"status\n", "text/plain")
                    return
                if url.path == "/big":
                    query = urllib.parse.parse_qs(url.query)
                    self._chunked(self._big(int(query["mb"][0]) * 16, "gate" in query))
                    return
                if url.path == "/cut":  # two chunks, then the connection drops
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for i in range(2):
                        self.wfile.write(b"%x\r\n%s\r\n" % (CHUNK, _chunk(i)))
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if url.path == "/slow":
                    self._chunked(self._slow())
                    return
                body = {
                    "name": upstream.name,
                    "method": self.command,
                    "path": self.path,
                    "headers": [[k, v] for k, v in self.headers.items()],
                }
                self._send(200, json.dumps(body).encode())

            def _big(self, chunks: int, gated: bool) -> Iterator[bytes]:
                for i in range(chunks):
                    yield _chunk(i)
                    if i == 0 and gated and not upstream.gate.wait(WAIT):
                        return

            def _slow(self) -> Iterator[bytes]:
                yield b"first;"
                upstream.release.wait(WAIT)
                yield b"last"

            do_GET = do_PUT = do_DELETE = do_PATCH = _echo

            def do_POST(self) -> None:
                if self.path != "/sha":
                    self._echo()
                    return
                digest, length = hashlib.sha256(), 0
                for part in self._body():
                    digest.update(part)
                    length += len(part)
                    upstream.got_body.set()
                self._send(
                    200, json.dumps({"sha256": digest.hexdigest(), "length": length}).encode()
                )

            def _body(self) -> Iterator[bytes]:
                if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                    remaining = int(self.headers.get("Content-Length", 0))
                    while remaining:
                        part = self.rfile.read(min(remaining, CHUNK))
                        remaining -= len(part)
                        yield part
                    return
                while True:
                    size = int(self.rfile.readline().split(b";")[0], 16)
                    if size == 0:
                        self.rfile.readline()
                        return
                    yield self.rfile.read(size)
                    self.rfile.readline()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.gate.set()
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(WAIT)


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return tmp_path_factory.mktemp("proxy-state")


@pytest.fixture(scope="module")
def proxy(state_dir: pathlib.Path) -> Iterator[client.ProxyClient]:
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
        assert not (state_dir / client.STATE_FILE).exists()


@pytest.fixture(scope="module")
def v1() -> Iterator[Upstream]:
    server = Upstream("v1")
    yield server
    server.close()


@pytest.fixture(scope="module")
def v2() -> Iterator[Upstream]:
    server = Upstream("v2")
    yield server
    server.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _target(
    revision: str, url: str | None, percent: int, tag: str | None = None
) -> client.RouteTarget:
    return client.RouteTarget(revision=revision, url=url, percent=percent, tag=tag)


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=WAIT) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _fire(
    url: str, n: int, *, headers: dict[str, str] | None = None, concurrency: int = 8
) -> collections.Counter[tuple[int, str]]:
    """Send exactly n GETs; count (status, revision header)."""

    async def main() -> collections.Counter[tuple[int, str]]:
        counts: collections.Counter[tuple[int, str]] = collections.Counter()
        left = iter(range(n))
        async with aiohttp.ClientSession() as session:

            async def worker() -> None:
                for _ in left:
                    async with session.get(url, headers=headers or {}) as resp:
                        await resp.read()
                        counts[(resp.status, resp.headers.get("Rollout-Revision", ""))] += 1

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        return counts

    return asyncio.run(main())


class TestRouting:
    def test_split_follows_weights(
        self, proxy: client.ProxyClient, v1: Upstream, v2: Upstream
    ) -> None:
        """90/10 over 3000 requests: each side within 5 binomial sigmas."""
        route = proxy.put_route(
            NS, "split", port=None, targets=[_target("a-1", v1.url, 90), _target("a-2", v2.url, 10)]
        )
        n = 3000
        counts = _fire(route.url + "/", n)
        assert sum(counts.values()) == n
        assert set(counts) <= {(200, "a-1"), (200, "a-2")}
        sigma = math.sqrt(n * 0.1 * 0.9)
        assert abs(counts[(200, "a-2")] - 0.1 * n) < 5 * sigma, counts

    def test_pinning_by_tag_and_revision(
        self, proxy: client.ProxyClient, v1: Upstream, v2: Upstream
    ) -> None:
        """Rollout-Tag and Rollout-Revision reach a 0% revision; unpinned traffic never."""
        route = proxy.put_route(
            NS,
            "pin",
            port=None,
            targets=[_target("b-1", v1.url, 100), _target("b-2", v2.url, 0, tag="preview")],
        )
        assert _fire(route.url + "/", 50, headers={"Rollout-Tag": "preview"}) == {(200, "b-2"): 50}
        assert _fire(route.url + "/", 50, headers={"Rollout-Revision": "b-2"}) == {(200, "b-2"): 50}
        assert _fire(route.url + "/", 50) == {(200, "b-1"): 50}
        status, _, body = _get(route.url + "/", {"Rollout-Tag": "nope"})
        assert status == 404
        assert b"no target for tag 'nope'" in body

    def test_request_is_passed_on(self, proxy: client.ProxyClient, v1: Upstream) -> None:
        """Method, path, query and headers arrive; hop-by-hop headers do not; XFF is added."""
        route = proxy.put_route(NS, "echo", port=None, targets=[_target("c-1", v1.url, 100)])
        conn = http.client.HTTPConnection("127.0.0.1", route.port, timeout=WAIT)
        conn.request(
            "PATCH",
            "/a/b%20c?q=1&q=2",
            body=b"{}",
            headers={"X-Custom": "yes", "Connection": "keep-alive, X-Private", "X-Private": "1"},
        )
        resp = conn.getresponse()
        seen = json.loads(resp.read())
        conn.close()
        headers = {k.lower(): v for k, v in seen["headers"]}
        assert resp.status == 200
        assert resp.getheader("Rollout-Revision") == "c-1"
        assert (seen["method"], seen["path"]) == ("PATCH", "/a/b%20c?q=1&q=2")
        assert headers["x-custom"] == "yes"
        assert headers["x-forwarded-for"] == "127.0.0.1"
        assert headers["host"] == f"127.0.0.1:{route.port}"
        assert "x-private" not in headers

    def test_502_when_nothing_is_ready_or_reachable(self, proxy: client.ProxyClient) -> None:
        """No ready revision, or an upstream refusing connections: 502 with the reason."""
        route = proxy.put_route(NS, "cold", port=None, targets=[_target("d-1", None, 100)])
        status, _, body = _get(route.url + "/")
        assert (status, body) == (
            502,
            b"rollout proxy: default/cold: no revision with traffic is ready\n",
        )
        dead = f"http://127.0.0.1:{_closed_port()}"
        proxy.put_route(NS, "cold", port=None, targets=[_target("d-2", dead, 100)])
        status, _, body = _get(route.url + "/")
        assert status == 502
        assert b"revision d-2: cannot connect to upstream" in body

    def test_delete_stops_the_listener(self, proxy: client.ProxyClient, v1: Upstream) -> None:
        """After DELETE the service port refuses connections; GET is None."""
        route = proxy.put_route(NS, "gone", port=None, targets=[_target("e-1", v1.url, 100)])
        assert _get(route.url + "/")[0] == 200
        assert proxy.delete_route(NS, "gone")
        assert proxy.get_route(NS, "gone") is None
        with (
            pytest.raises(ConnectionRefusedError),
            socket.create_connection(("127.0.0.1", route.port), timeout=WAIT),
        ):
            pass


class TestStreaming:
    def test_large_response_streams(self, proxy: client.ProxyClient, v1: Upstream) -> None:
        """64 MiB arrive intact, and the first chunk arrives before the upstream sent the rest."""
        route = proxy.put_route(NS, "big", port=None, targets=[_target("f-1", v1.url, 100)])
        v1.gate.clear()
        digest, expected, length = hashlib.sha256(), hashlib.sha256(), 0
        for i in range(64 * 16):
            expected.update(_chunk(i))
        with urllib.request.urlopen(route.url + "/big?mb=64&gate=1", timeout=WAIT) as resp:
            first = resp.read(CHUNK)  # the upstream is held after its first chunk
            assert first == _chunk(0)
            v1.gate.set()
            digest.update(first)
            length += len(first)
            while part := resp.read(1024 * 1024):
                digest.update(part)
                length += len(part)
        assert length == 64 * 1024 * 1024
        assert digest.hexdigest() == expected.hexdigest()

    def test_large_request_streams(self, proxy: client.ProxyClient, v1: Upstream) -> None:
        """A chunked 16 MiB upload reaches the upstream before the client finished sending."""
        route = proxy.put_route(NS, "upload", port=None, targets=[_target("g-1", v1.url, 100)])
        v1.got_body.clear()
        expected = hashlib.sha256()

        def body() -> Iterator[bytes]:
            for i in range(256):
                expected.update(_chunk(i))
                yield _chunk(i)
                if i == 0 and not v1.got_body.wait(WAIT):
                    raise AssertionError("the proxy buffered the request body")

        conn = http.client.HTTPConnection("127.0.0.1", route.port, timeout=WAIT)
        conn.request("POST", "/sha", body=body(), encode_chunked=True)
        resp = conn.getresponse()
        answer = json.loads(resp.read())
        conn.close()
        assert answer == {"sha256": expected.hexdigest(), "length": 256 * CHUNK}

    def test_upstream_failing_mid_body_cuts_the_client(
        self, proxy: client.ProxyClient, v1: Upstream
    ) -> None:
        """A body cut upstream is cut for the client too (never a short body that looks
        complete), and counts as a connection error."""
        route = proxy.put_route(NS, "cut", port=None, targets=[_target("i-1", v1.url, 100)])
        conn = http.client.HTTPConnection("127.0.0.1", route.port, timeout=WAIT)
        conn.request("GET", "/cut")
        resp = conn.getresponse()
        assert resp.status == 200
        with pytest.raises(http.client.IncompleteRead):
            resp.read()
        conn.close()
        _wait_for(
            lambda: (
                proxy.stats(NS, "cut", "i-1", since=0, until=time.time() + 1).codes["error"] == 1
            ),
            "the cut request to count as an error",
        )

    def test_weights_change_during_a_long_request(
        self, proxy: client.ProxyClient, v1: Upstream, v2: Upstream
    ) -> None:
        """A request in flight on v1 finishes intact after all traffic moved to v2."""
        targets = [_target("h-1", v1.url, 100), _target("h-2", v2.url, 0)]
        route = proxy.put_route(NS, "swap", port=None, targets=targets)
        v1.release.clear()
        got_first = threading.Event()
        outcome: dict[str, Any] = {}

        def long_request() -> None:
            with urllib.request.urlopen(route.url + "/slow", timeout=WAIT) as resp:
                outcome["revision"] = resp.headers["Rollout-Revision"]
                outcome["first"] = resp.read(len(b"first;"))
                got_first.set()
                outcome["rest"] = resp.read()

        thread = threading.Thread(target=long_request)
        thread.start()
        try:
            assert got_first.wait(WAIT)
            moved = proxy.put_route(
                NS,
                "swap",
                port=None,
                targets=[_target("h-1", v1.url, 0), _target("h-2", v2.url, 100)],
            )
            assert moved.port == route.port
            assert _fire(route.url + "/", 20) == {(200, "h-2"): 20}
        finally:
            v1.release.set()
            thread.join(WAIT)
        assert outcome == {"revision": "h-1", "first": b"first;", "rest": b"last"}


class TestObservability:
    def test_stats_and_metrics_count_what_was_sent(
        self, proxy: client.ProxyClient, v1: Upstream, v2: Upstream
    ) -> None:
        """JSON stats and /metrics equal the requests sent, by revision and code class."""
        dead = f"http://127.0.0.1:{_closed_port()}"
        targets = [_target("s-1", v1.url, 100), _target("s-2", v2.url, 0), _target("s-3", dead, 0)]
        route = proxy.put_route(NS, "stats", port=None, targets=targets)
        since = math.floor(time.time())
        _fire(route.url + "/", 170)
        _fire(route.url + "/status/503", 30)
        _fire(route.url + "/status/404", 20, headers={"Rollout-Revision": "s-2"})
        _fire(route.url + "/", 5, headers={"Rollout-Revision": "s-3"})
        expected = {
            "s-1": {"2xx": 170, "3xx": 0, "4xx": 0, "5xx": 30, "error": 0},
            "s-2": {"2xx": 0, "3xx": 0, "4xx": 20, "5xx": 0, "error": 0},
            "s-3": {"2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0, "error": 5},
        }

        def window(rev: str) -> client.StatsWindow:
            return proxy.stats(NS, "stats", rev, since=since, until=time.time() + 1, samples=50)

        _wait_for(
            lambda: all(window(rev).codes == codes for rev, codes in expected.items()),
            "the stats to count every request",
        )
        s1 = window("s-1")
        assert (s1.requests, s1.errors) == (200, 30)
        assert s1.latency is not None
        assert 0 < s1.latency["p50"] <= s1.latency["p90"] <= s1.latency["p99"] < WAIT
        assert len(s1.samples) == 50
        assert window("s-3").latency is None
        assert window("s-3").errors == 5
        # slow requests through the client: every answered request is timed, none of
        # them slower than the WAIT bound, all of them slower than a microsecond
        slow = proxy.stats(NS, "stats", "s-1", since=since, until=time.time() + 1, slower_than=WAIT)
        assert (slow.timed, slow.slow, slow.slower_than) == (200, 0, WAIT)
        fast = proxy.stats(NS, "stats", "s-1", since=since, until=time.time() + 1, slower_than=1e-6)
        assert (fast.timed, fast.slow) == (200, 200)
        assert (
            proxy.stats(
                NS, "stats", "s-3", since=since, until=time.time() + 1, slower_than=WAIT
            ).timed
            == 0
        )

        families = {f.name: f for f in parser.text_string_to_metric_families(proxy.metrics())}
        counted = {
            (s.labels["revision"], s.labels["code"]): s.value
            for s in families["rollout_proxy_requests"].samples
            if s.name.endswith("_total") and s.labels["service"] == "stats"
        }
        assert counted == {
            (rev, code): n for rev, codes in expected.items() for code, n in codes.items() if n
        }
        durations = {
            s.labels["revision"]: s.value
            for s in families["rollout_proxy_request_duration_seconds"].samples
            if s.name.endswith("_count") and s.labels["service"] == "stats"
        }
        assert durations == {"s-1": 200, "s-2": 20}


class TestRetry:
    def test_a_refused_request_is_retried_once_on_another_revision(
        self, proxy: client.ProxyClient, v1: Upstream
    ) -> None:
        """Half the traffic to a revision that refuses connections (a killed canary):
        every unpinned request is answered by the other one; pinned ones get 502; each
        client request is counted once, under the revision that answered, and the
        refused attempts as retries of the revision that refused them."""
        dead = f"http://127.0.0.1:{_closed_port()}"
        targets = [_target("r-1", v1.url, 50), _target("r-2", dead, 50, tag="canary")]
        route = proxy.put_route(NS, "retry", port=None, targets=targets)
        since = math.floor(time.time())
        assert _fire(route.url + "/", 200) == {(200, "r-1"): 200}
        pinned = _fire(route.url + "/", 10, headers={"Rollout-Tag": "canary"})
        assert pinned == {(502, ""): 10}

        def window(rev: str) -> client.StatsWindow:
            return proxy.stats(NS, "retry", rev, since=since, until=time.time() + 1)

        _wait_for(lambda: window("r-1").requests == 200, "the stats to count every request")
        refused = window("r-2")
        assert (refused.requests, refused.codes["error"]) == (10, 10)  # the pinned 502s only
        retries = _retries(proxy, "retry")
        assert set(retries) == {"r-2"}
        assert 50 <= retries["r-2"] <= 150  # about half of the 200 were sent there first

    def test_an_idempotent_request_cut_before_its_answer_is_retried(
        self, proxy: client.ProxyClient, v1: Upstream
    ) -> None:
        """A revision that dies with the request in hand (it read it, then closed the
        connection without a byte of answer): a GET goes to the other revision, a POST
        with a body gets its 502 (it may have had its effect)."""
        with _Hangup() as hangup:
            targets = [_target("h-1", v1.url, 50), _target("h-2", hangup.url, 50)]
            route = proxy.put_route(NS, "hangup", port=None, targets=targets)

            assert _fire(route.url + "/", 100) == {(200, "h-1"): 100}
            retries = _retries(proxy, "hangup")
            assert set(retries) == {"h-2"}
            assert 20 <= retries["h-2"] <= 80  # about half went there first
            posts = collections.Counter(
                _post(route.url + "/sha", b"x" * 100, {}) for _ in range(20)
            )
            pinned_get = _get(route.url + "/", {"Rollout-Revision": "h-2"})[0]
        assert set(posts) == {200, 502}  # those sent to h-2 first were not sent again
        assert pinned_get == 502
        assert _retries(proxy, "hangup") == retries  # neither the POSTs nor the pinned GET


class _Hangup:
    """A server that reads each request and closes the connection without answering."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> _Hangup:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()
        self.thread.join(timeout=WAIT)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(WAIT)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                if data:
                    self.requests += 1


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=WAIT) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _retries(proxy: client.ProxyClient, service: str) -> dict[str, float]:
    families = {f.name: f for f in parser.text_string_to_metric_families(proxy.metrics())}
    return {
        s.labels["revision"]: s.value
        for s in families["rollout_proxy_retries"].samples
        if s.name.endswith("_total") and s.labels["service"] == service
    }


class TestLockedDown:
    """Finding 5 of issue 13: a foreign PUT sent all traffic to a foreign server."""

    def test_a_write_without_the_token_is_401(
        self, proxy: client.ProxyClient, state_dir: pathlib.Path, v1: Upstream
    ) -> None:
        """Anyone on the host can reach the admin port; without the token they change nothing."""
        proxy.put_route(NS, "locked", port=None, targets=[_target("l-1", v1.url, 100)])
        foreign = client.ProxyClient(proxy.admin_url)  # no token
        with pytest.raises(client.ProxyError, match="401: PUT /v1/routes/default/locked: unauth"):
            foreign.put_route(NS, "locked", port=None, targets=[_target("l-1", None, 100)])
        with pytest.raises(client.ProxyError, match="401"):
            foreign.delete_route(NS, "locked")
        kept = foreign.get_route(NS, "locked")  # reads are open
        assert kept is not None
        assert [(t.revision, t.url) for t in kept.targets] == [("l-1", v1.url)]
        token = state_dir / "proxy.token"
        assert token.stat().st_mode & 0o777 == 0o600

    def test_with_the_token_a_url_that_is_not_our_revision_is_400(
        self, proxy: client.ProxyClient, v1: Upstream, v2: Upstream
    ) -> None:
        """Even with the token, a target must be where that revision runs (its run file)."""
        proxy.put_route(NS, "owned", port=None, targets=[_target("o-1", v1.url, 100)])
        raw = client.ProxyClient(proxy.admin_url, token=proxy.token)  # writes no run file
        for url in (v2.url, "http://192.0.2.1:80"):  # a local port that is not o-1's; remote
            with pytest.raises(client.ProxyError, match=r"400: targets\[0\]\.url"):
                raw.put_route(NS, "owned", port=None, targets=[_target("o-1", url, 100)])
        kept = raw.get_route(NS, "owned")
        assert kept is not None
        assert [t.url for t in kept.targets] == [v1.url]


class TestProcess:
    def test_second_ensure_adopts_the_running_proxy(
        self, proxy: client.ProxyClient, state_dir: pathlib.Path, v1: Upstream
    ) -> None:
        """ensure_proxy again: the same process (pid and admin URL), routes kept."""
        # Its own route: the test holds whichever tests ran before it in this worker.
        proxy.put_route(NS, "adopted", port=None, targets=[_target("a-1", v1.url, 100)])
        before = client.read_state(state_dir)
        again = client.ensure_proxy(state_dir)
        assert client.read_state(state_dir) == before
        assert again.admin_url == proxy.admin_url
        assert "adopted" in {r.service for r in again.routes()}
        assert again.token == proxy.token
        assert (again.pid, again.started) == (before[0] if before else None, False)
