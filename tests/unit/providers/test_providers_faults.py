"""Providers under faults: a total deadline against servers that drip (web and
Prometheus), and for `web` malformed answers, raw bytes, header values that would
break the request, and credentials read at measurement time (env, file,
secretKeyRef) that never show up in a reading.

The servers are raw sockets on 127.0.0.1 in threads (to drip the status line and
headers byte by byte, which http.server cannot); each is stopped at the end of its
test and never drips for more than `DRIP_FOR` seconds."""

from __future__ import annotations

import json
import pathlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from rollout.analysis import measurement
from rollout.analysis.providers import deadline, printable, prometheus, secrets, web
from rollout.api import policyspec

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
CTX = measurement.MeasureContext(
    namespace="prod", service="web", stable="web-1", canary="web-2", now=NOW
)
DRIP_FOR = 6.0  # seconds a dripping answer lasts at most (the timeout is 1 s)
GRACE = 0.5  # what the deadline may overrun by on a loaded machine
RAW = b"bad \x00 \xff\xfe \xef\xbf\xbd \x1b[31m \xe2\x80\xae end\r\nX-Injected: 1"

Answer = Callable[[socket.socket, "Server"], None]


class Server:
    """A TCP server on 127.0.0.1 answering each connection with `answer(conn)`."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.stop = threading.Event()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self._sock.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._loop, daemon=True)
        self._accept.start()

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(DRIP_FOR)
            request = b""
            try:
                while b"\r\n\r\n" not in request:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    request += chunk
                self.requests.append(request)
                self.answer(conn, self)
            except OSError:
                pass  # the client went away (as it should at its deadline)

    def drip(self, conn: socket.socket, data: bytes, every: float = 0.25) -> None:
        """Send `data` one byte every `every` seconds until done, stopped or DRIP_FOR."""
        ends = time.monotonic() + DRIP_FOR
        for byte in data:
            if self.stop.is_set() or time.monotonic() > ends:
                return
            conn.sendall(bytes([byte]))
            time.sleep(every)

    def close(self) -> None:
        self.stop.set()
        self._accept.join(5)
        self._sock.close()
        for thread in self._threads:
            thread.join(DRIP_FOR + 1)


@pytest.fixture
def serve() -> Iterator[Callable[[Answer], Server]]:
    servers: list[Server] = []

    def start(answer: Answer) -> Server:
        servers.append(Server(answer))
        return servers[-1]

    try:
        yield start
    finally:
        for s in servers:
            s.close()


def answer(status: int, body: bytes, headers: str = "") -> Answer:
    def send(conn: socket.socket, server: Server) -> None:
        head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
        conn.sendall(head.encode() + body)

    return send


def metric(url: str, **provider: Any) -> policyspec.Metric:
    return policyspec.Metric.model_validate(
        {
            "name": "m",
            "provider": {"web": {"url": url, "jsonPath": "$.v", "timeout": "1s", **provider}},
            "thresholds": {"max": 0.05},
        }
    )


def with_headers(m: policyspec.Metric, headers: dict[str, Any]) -> policyspec.Metric:
    """`m` with headers set past validation (the provider is the last line)."""
    spec = m.provider.web
    assert spec is not None
    web_spec = spec.model_copy(update={"headers": headers})
    return m.model_copy(update={"provider": m.provider.model_copy(update={"web": web_spec})})


# -- the total deadline -----------------------------------------------------------------


def _drip_headers(conn: socket.socket, server: Server) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    server.drip(conn, b"X-Slow: " + b"a" * 200 + b"\r\n\r\n")


def _drip_body(conn: socket.socket, server: Server) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n")
    server.drip(conn, b"{" + b" " * 198 + b"}")


def _drip_chunked(conn: socket.socket, server: Server) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    server.drip(conn, b"1\r\n \r\n" * 100)


@pytest.mark.parametrize(
    "drip",
    [
        pytest.param(_drip_headers, id="headers-dripped"),
        pytest.param(_drip_body, id="body-dripped"),
        pytest.param(_drip_chunked, id="chunks-dripped"),
    ],
)
def test_a_dripping_answer_ends_at_the_timeout(
    serve: Callable[[Answer], Server], drip: Answer
) -> None:
    """Every byte in time, the whole answer not: an error at the timeout, not later."""
    server = serve(drip)
    started = time.monotonic()
    reading = web.WebProvider().measure(metric(server.url + "/m"), CTX)
    took = time.monotonic() - started
    assert reading.error is not None
    assert reading.error.endswith("no complete answer within 1s")
    assert 0.9 <= took <= 1.0 + GRACE


def test_the_deadline_covers_redirects(serve: Callable[[Answer], Server]) -> None:
    """A redirect to a dripping answer: still one deadline for the whole reading."""
    dripping = serve(_drip_body)
    redirect = serve(answer(302, b"", f"Location: {dripping.url}/m\r\n"))
    started = time.monotonic()
    reading = web.WebProvider().measure(metric(redirect.url + "/m"), CTX)
    assert reading.error is not None
    assert "no complete answer within 1s" in reading.error
    assert time.monotonic() - started <= 1.0 + GRACE


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("ftp://127.0.0.1:9/x", id="ftp"),
        pytest.param("file:///etc/hostname", id="file"),
        pytest.param("data:,%7B%22v%22%3A0%7D", id="data"),
    ],
)
def test_a_redirect_leaves_http_only_as_an_error(
    serve: Callable[[Answer], Server], target: str
) -> None:
    """Only http and https are fetched, also after a redirect."""
    redirect = serve(answer(302, b"", f"Location: {target}\r\n"))
    reading = web.WebProvider().measure(metric(redirect.url + "/m"), CTX)
    assert reading.value is None
    assert reading.error is not None
    assert reading.error.startswith(f"GET {redirect.url}/m: ")


def test_a_quick_answer_is_read_in_full(serve: Callable[[Answer], Server]) -> None:
    """The deadline reader reads ordinary answers (length, chunked) as before."""
    plain = serve(answer(200, b'{"v": 0.01}'))
    assert web.WebProvider().measure(metric(plain.url + "/m"), CTX).value == 0.01

    def chunked(conn: socket.socket, server: Server) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b'4\r\n{"v"\r\n7\r\n: 0.02}\r\n0\r\n\r\n'
        )

    assert web.WebProvider().measure(metric(serve(chunked).url + "/m"), CTX).value == 0.02


@pytest.mark.parametrize(
    ("send", "error"),
    [
        pytest.param(
            lambda conn, server: conn.sendall(b"garbage\r\n\r\n"),
            "not a valid HTTP answer",
            id="bad-status-line",
        ),
        pytest.param(
            lambda conn, server: conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{"),
            "the answer ended 49 bytes short",
            id="cut-short",
        ),
        pytest.param(lambda conn, server: None, "not a valid HTTP answer", id="closed"),
    ],
)
def test_malformed_answers_are_error_readings(
    serve: Callable[[Answer], Server], send: Answer, error: str
) -> None:
    """What http.client raises besides OSError is an error reading too, not an exception."""
    reading = web.WebProvider().measure(metric(serve(send).url + "/m"), CTX)
    assert reading.error is not None
    assert error in reading.error


def prometheus_metric(address: str) -> policyspec.Metric:
    return policyspec.Metric.model_validate(
        {
            "name": "m",
            "provider": {"prometheus": {"address": address, "query": "up", "timeout": "1s"}},
            "thresholds": {"max": 1},
        }
    )


def _prometheus_drip_body(conn: socket.socket, server: Server) -> None:
    body = b'{"status":"success","data":{"resultType":"vector","result":[]}}' + b" " * 100
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
    conn.sendall(f"Content-Length: {len(body)}\r\n\r\n".encode())
    server.drip(conn, body)


@pytest.mark.parametrize(
    "drip",
    [
        pytest.param(_drip_headers, id="headers-dripped"),
        pytest.param(_prometheus_drip_body, id="body-dripped"),
    ],
)
def test_a_dripping_prometheus_ends_at_the_timeout(
    serve: Callable[[Answer], Server], drip: Answer
) -> None:
    """The Prometheus client's session reads within the reading's deadline too."""
    server = serve(drip)
    provider = prometheus.PrometheusProvider()
    started = time.monotonic()
    reading = provider.measure(prometheus_metric(server.url), CTX)
    took = time.monotonic() - started
    provider.close()
    assert reading.error == f"Prometheus at {server.url}: no complete answer within 1s"
    assert 0.9 <= took <= 1.0 + GRACE


def test_prometheus_answers_within_the_deadline_as_before(
    serve: Callable[[Answer], Server],
) -> None:
    """A pooled connection answers several readings; no deadline is left on the thread."""
    body = json.dumps(
        {"status": "success", "data": {"resultType": "vector", "result": [{"value": [1, "0.5"]}]}}
    ).encode()
    head = (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )

    def keep_alive(conn: socket.socket, server: Server) -> None:
        """Answer every request of the connection, as a real Prometheus does (closing
        after one answer without saying so races the client's reuse of the socket)."""
        while True:
            conn.sendall(head.encode() + body)
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request += chunk
            server.requests.append(request)

    server = serve(keep_alive)
    provider = prometheus.PrometheusProvider()
    assert [provider.measure(prometheus_metric(server.url), CTX).value for _ in range(3)] == [
        0.5,
        0.5,
        0.5,
    ]
    provider.close()
    assert deadline.current() is None
    assert len(server.requests) == 3


# -- raw bytes ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [pytest.param(500, id="http-500"), pytest.param(200, id="200")])
def test_raw_bytes_are_quoted_and_made_printable(
    serve: Callable[[Answer], Server], status: int
) -> None:
    """Undecodable bytes are quoted as \\xNN by the provider; `printable` (applied to every
    reading by the controller) leaves nothing unprintable and no line break."""
    reading = web.WebProvider().measure(metric(serve(answer(status, RAW)).url + "/m"), CTX)
    assert reading.error is not None
    assert "\\xff\\xfe" in reading.error
    shown = printable.printable(reading.error)
    assert shown.isprintable()
    assert "\ufffd" not in shown
    assert "\\x00" in shown
    assert "\\ufffd" in shown
    assert "\\u202e" in shown
    assert "X-Injected: 1" in shown  # as text on the same line, not a header


# -- header values ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        pytest.param(
            {"X-Token": "v\r\nX-Injected: 1"}, "header X-Token: the value contains", id="crlf"
        ),
        pytest.param({"X-Token": "v\x00"}, "header X-Token: the value contains", id="nul"),
        pytest.param({"X Token": "v"}, "not a valid header name", id="bad-name"),
    ],
)
def test_header_values_that_would_break_the_request_are_refused(
    serve: Callable[[Answer], Server], headers: dict[str, Any], error: str
) -> None:
    """An error reading naming the header; no request is sent, nothing is raised."""
    server = serve(answer(200, b'{"v": 0}'))
    reading = web.WebProvider().measure(with_headers(metric(server.url + "/m"), headers), CTX)
    assert reading.error is not None
    assert error in reading.error
    assert server.requests == []


# -- credentials ------------------------------------------------------------------------


class Reader:
    def __init__(self, values: dict[tuple[str, str, str], str] | None = None) -> None:
        self.values = values or {}

    def read(self, namespace: str, name: str, key: str) -> str:
        try:
            return self.values[(namespace, name, key)]
        except KeyError:
            raise secrets.SecretError(f"secret {namespace}/{name} has no key {key}") from None


def _sent(server: Server, header: str) -> list[str]:
    found = []
    for request in server.requests:
        for line in request.decode().split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == header.lower():
                found.append(value.strip())
    return found


def test_credentials_are_read_at_measurement_time(
    serve: Callable[[Answer], Server], tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """env, file (one trailing newline stripped) and secretKeyRef (the release's
    namespace) reach the server; a change is seen by the next reading."""
    server = serve(answer(200, b'{"v": 0}'))
    token = tmp_path / "token"
    token.write_text("from-file\n")
    monkeypatch.setenv("ROLLOUT_TEST_TOKEN", "from-env")
    m = metric(
        server.url + "/m",
        headers={
            "X-Env": {"valueFrom": {"env": "ROLLOUT_TEST_TOKEN"}},
            "X-File": {"valueFrom": {"file": str(token)}},
            "X-Secret": {"valueFrom": {"secretKeyRef": {"name": "metrics", "key": "token"}}},
            "X-Plain": "literal",
        },
    )
    provider = web.WebProvider(secrets=Reader({("prod", "metrics", "token"): "from-secret"}))
    assert provider.measure(m, CTX).error is None
    monkeypatch.setenv("ROLLOUT_TEST_TOKEN", "rotated")
    assert provider.measure(m, CTX).error is None
    assert _sent(server, "X-Env") == ["from-env", "rotated"]
    assert _sent(server, "X-File") == ["from-file", "from-file"]
    assert _sent(server, "X-Secret") == ["from-secret", "from-secret"]
    assert _sent(server, "X-Plain") == ["literal", "literal"]


def test_a_file_keeps_all_but_one_trailing_newline(tmp_path: pathlib.Path) -> None:
    """Only one trailing newline (\\n or \\r\\n) is stripped; the rest is the value."""
    for text, value in [("a\n", "a"), ("a\r\n", "a"), ("a\n\n", "a\n"), ("a", "a")]:
        path = tmp_path / "f"
        path.write_bytes(text.encode())
        source = policyspec.ValueFrom(file=str(path))
        if "\n" in value:
            with pytest.raises(secrets.SecretError, match="control character"):
                secrets.resolve(source, namespace="ns", reader=None)
        else:
            assert secrets.resolve(source, namespace="ns", reader=None) == value


def test_a_secret_made_from_a_file_loses_its_trailing_newline_too() -> None:
    """`kubectl create secret --from-file` keeps the file's newline: the value is the
    same as the file source would read (found: such Secrets were refused)."""
    source = policyspec.ValueFrom(secret_key_ref=policyspec.SecretKeyRef(name="m", key="t"))
    reader = Reader({("ns", "m", "t"): "tok\n"})

    assert secrets.resolve(source, namespace="ns", reader=reader) == "tok"


class Leaky:
    def read(self, namespace: str, name: str, key: str) -> str:
        raise RuntimeError("cannot parse s3cr3t-value")


@pytest.mark.parametrize(
    ("source", "reader", "error"),
    [
        pytest.param(
            {"env": "ROLLOUT_TEST_UNSET"},
            None,
            "header Authorization: environment variable ROLLOUT_TEST_UNSET is not set",
            id="env-unset",
        ),
        pytest.param(
            {"file": "/nonexistent/token"},
            None,
            "header Authorization: cannot read file /nonexistent/token: No such file",
            id="file-missing",
        ),
        pytest.param(
            {"secretKeyRef": {"name": "metrics", "key": "token"}},
            None,
            "header Authorization: secretKeyRef needs the kubernetes platform",
            id="no-secrets-here",
        ),
        pytest.param(
            {"secretKeyRef": {"name": "metrics", "key": "nope"}},
            Reader(),
            "header Authorization: secret prod/metrics has no key nope",
            id="secret-key-missing",
        ),
        pytest.param(
            {"secretKeyRef": {"name": "metrics", "key": "token"}},
            Leaky(),
            "header Authorization: secret prod/metrics key token could not be read (RuntimeError)",
            id="reader-fails",
        ),
        pytest.param(
            {"secretKeyRef": {"name": "metrics", "key": "token"}},
            Reader({("prod", "metrics", "token"): "s3cr3t-value\r\nX-Injected: 1"}),
            "header Authorization: the value of secretKeyRef metrics/token contains a line break",
            id="secret-with-crlf",
        ),
    ],
)
def test_credential_errors_name_the_header_and_source_never_the_value(
    serve: Callable[[Answer], Server],
    monkeypatch: pytest.MonkeyPatch,
    source: dict[str, Any],
    reader: Any,
    error: str,
) -> None:
    """An error reading that says which header and where from; no request is sent."""
    monkeypatch.delenv("ROLLOUT_TEST_UNSET", raising=False)
    server = serve(answer(200, b'{"v": 0}'))
    m = metric(server.url + "/m", headers={"Authorization": {"valueFrom": source}})
    reading = web.WebProvider(secrets=reader).measure(m, CTX)
    assert reading.error is not None
    assert reading.error.startswith(error)
    assert "s3cr3t" not in reading.error
    assert server.requests == []


def test_a_credential_echoed_back_is_masked(
    serve: Callable[[Answer], Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An answer quoting the token (`invalid token …`) reads with the token masked."""
    monkeypatch.setenv("ROLLOUT_TEST_TOKEN", "Bearer s3cr3t-value")
    server = serve(answer(401, b"invalid credentials: Bearer s3cr3t-value"))
    m = metric(
        server.url + "/m", headers={"Authorization": {"valueFrom": {"env": "ROLLOUT_TEST_TOKEN"}}}
    )
    reading = web.WebProvider().measure(m, CTX)
    assert reading.error is not None
    assert "HTTP 401: invalid credentials: ***" in reading.error
    assert "s3cr3t" not in reading.error
    assert _sent(server, "Authorization") == ["Bearer s3cr3t-value"]
