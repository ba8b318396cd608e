"""The webhook transport (`hooks`): canonical bodies and their signatures, and calls to
real stdlib http.server gates on 127.0.0.1 in threads — answers, retries with their
backoff, deadlines against dripping servers, no redirects, and no URL or secret in
an error.

Each server is stopped at the end of its test (its handler threads joined); a
handler never drips for more than `DRIP_FOR` seconds, and stops at once when its
test ends. Backoff goes through an injected `sleep` that only records."""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import json
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollout.analysis.providers import hooks

DRIP_FOR = 6.0  # seconds a handler drips at most
GRACE = 0.5  # what a deadline may overrun by on a loaded machine
SECRET = b"s3cr3t-hmac-key"
PAYLOAD: dict[str, Any] = {
    "name": "gate",
    "release": "web-7",
    "weights": {"web-1": 90, "web-2": 10},
    "stepIndex": 2,
    "metadata": {"team": "payments", "note": "é ✓"},
    "timestamp": datetime(2025, 1, 1, 12, 0, tzinfo=UTC),
}


# -- a gate server --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes


Reply = Callable[["_Handler"], None]


class Gate:
    """An http.server on 127.0.0.1: records each request, answers the n-th with
    `replies[n]` (the last one again after the list)."""

    def __init__(self, replies: list[Reply]) -> None:
        self.replies = replies
        self.seen: list[Seen] = []
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = False  # server_close joins the handler threads
        self._httpd.gate = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,))
        self._thread.start()

    def record(self, seen: Seen) -> Reply:
        with self._lock:
            self.seen.append(seen)
            return self.replies[min(len(self.seen), len(self.replies)) - 1]

    def drip(self, handler: _Handler, data: bytes, every: float = 0.5) -> None:
        """Send `data` one byte every `every` seconds until done, stopped or DRIP_FOR."""
        ends = time.monotonic() + DRIP_FOR
        for byte in data:
            if self.stop.wait(every) or time.monotonic() > ends:
                return
            handler.wfile.write(bytes([byte]))

    def close(self) -> None:
        self.stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def _serve(self) -> None:
        gate: Gate = self.server.gate  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = gate.record(Seen(self.command, self.path, headers, body))
        with contextlib.suppress(OSError):  # the client went away (at its deadline)
            reply(self)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def status(code: int, body: bytes = b"", **headers: str) -> Reply:
    def send(handler: _Handler) -> None:
        handler.send_response(code)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return send


def drip_headers(handler: _Handler) -> None:
    handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
    handler.server.gate.drip(handler, b"X-Slow: " + b"a" * 100 + b"\r\n\r\n")  # type: ignore[attr-defined]


def drip_body(code: int) -> Reply:
    def send(handler: _Handler) -> None:
        handler.send_response(code)
        handler.send_header("Content-Length", "100")
        handler.end_headers()
        handler.server.gate.drip(handler, b"x" * 100)  # type: ignore[attr-defined]

    return send


def cut_after(code: int, text: bytes) -> Reply:
    """Headers promising more than `text`, then `text`, then silence until stopped."""

    def send(handler: _Handler) -> None:
        handler.send_response(code)
        handler.send_header("Content-Length", str(len(text) + 100))
        handler.end_headers()
        handler.wfile.write(text)
        handler.server.gate.stop.wait(DRIP_FOR)  # type: ignore[attr-defined]

    return send


@pytest.fixture
def serve() -> Iterator[Callable[..., Gate]]:
    gates: list[Gate] = []

    def start(*replies: Reply) -> Gate:
        gates.append(Gate(list(replies)))
        return gates[-1]

    try:
        yield start
    finally:
        for gate in gates:
            gate.close()


class Sleeps(list[float]):
    """An injected `sleep` that records the backoff and returns at once."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- answers ----------------------------------------------------------------------------


@pytest.mark.parametrize("code", [pytest.param(c, id=str(c)) for c in (200, 201, 202, 204)])
def test_a_2xx_is_ok_at_the_first_attempt(serve: Callable[..., Gate], code: int) -> None:
    """ok in one attempt; the gate received exactly `encode(payload)`, signed."""
    gate = serve(status(code))
    body = hooks.encode(PAYLOAD)
    sleeps = Sleeps()
    result = hooks.call(gate.url + "/gate", body, timeout=2, retries=2, secret=SECRET, sleep=sleeps)
    assert result == hooks.CallResult(
        ok=True, status=code, error=None, attempts=1, elapsed=result.elapsed
    )
    assert sleeps == []
    [seen] = gate.seen
    assert (seen.method, seen.path, seen.body) == ("POST", "/gate", body)
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["user-agent"] == "rollout-webhook"
    signature = seen.headers[hooks.SIGNATURE_HEADER.lower()]
    assert hooks.verify(seen.body, SECRET, signature)
    assert not hooks.verify(seen.body, b"another-secret", signature)


def test_no_secret_no_signature(serve: Callable[..., Gate]) -> None:
    """Without a secret the request carries no signature header."""
    gate = serve(status(200))
    assert hooks.call(gate.url, b"{}", timeout=2, retries=0).ok
    assert hooks.SIGNATURE_HEADER.lower() not in gate.seen[0].headers


def test_a_2xx_body_is_not_waited_for(serve: Callable[..., Gate]) -> None:
    """A 2xx is the answer once its headers arrive: a dripping body does not delay it."""
    gate = serve(drip_body(200))
    started = time.monotonic()
    result = hooks.call(gate.url, b"{}", timeout=2, retries=0)
    assert result.ok
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("code", [pytest.param(c, id=str(c)) for c in (400, 401, 403, 404, 422)])
def test_a_4xx_is_a_definitive_no(serve: Callable[..., Gate], code: int) -> None:
    """Not ok, one attempt, no backoff; the error names the status and quotes the body."""
    gate = serve(status(code, b"denied by policy\n"))
    sleeps = Sleeps()
    result = hooks.call(gate.url, b"{}", timeout=2, retries=3, sleep=sleeps)
    assert (result.ok, result.status, result.attempts) == (False, code, 1)
    assert result.error == f"HTTP {code}: denied by policy"
    assert sleeps == []
    assert len(gate.seen) == 1


def test_an_error_quotes_at_most_the_start_of_the_body(serve: Callable[..., Gate]) -> None:
    """A long, multi-line, binary body becomes one printable line of ~120 characters."""
    gate = serve(status(403, b"line one\r\nline two \x00\xff " + b"z" * 5000))
    result = hooks.call(gate.url, b"{}", timeout=2, retries=0)
    assert result.error is not None
    assert result.error.startswith("HTTP 403: line one  line two \\x00\\xff zzz")
    assert result.error.endswith("…")
    assert result.error.isprintable()
    assert len(result.error) <= len("HTTP 403: ") + 121


def test_an_empty_error_body_names_the_reason(serve: Callable[..., Gate]) -> None:
    """No body: the status line's reason phrase."""
    gate = serve(status(404))
    assert hooks.call(gate.url, b"{}", timeout=2, retries=0).error == "HTTP 404: Not Found"


@pytest.mark.parametrize("code", [pytest.param(c, id=str(c)) for c in (301, 302, 303, 307, 308)])
def test_a_redirect_is_an_answer_not_followed(serve: Callable[..., Gate], code: int) -> None:
    """A 3xx is not a 2xx: not ok, one attempt, and the target never hears of it."""
    target = serve(status(200))
    gate = serve(status(code, Location=target.url + "/elsewhere"))
    result = hooks.call(gate.url, b"{}", timeout=2, retries=2)
    assert (result.ok, result.status, result.attempts) == (False, code, 1)
    assert result.error == f"HTTP {code}: a redirect, not followed"
    assert target.seen == []


# -- retries ----------------------------------------------------------------------------


def test_5xx_is_retried_with_backoff_until_a_2xx(serve: Callable[..., Gate]) -> None:
    """500, 500, 200 with retries=2: ok at the third attempt, after 0.5 s and 1 s."""
    gate = serve(status(500, b"busy"), status(500, b"busy"), status(200))
    body = hooks.encode(PAYLOAD)
    sleeps = Sleeps()
    result = hooks.call(gate.url, body, timeout=2, retries=2, secret=SECRET, sleep=sleeps)
    assert (result.ok, result.status, result.error, result.attempts) == (True, 200, None, 3)
    assert sleeps == [0.5, 1.0]
    assert [seen.body for seen in gate.seen] == [body] * 3
    assert all(
        hooks.verify(body, SECRET, s.headers[hooks.SIGNATURE_HEADER.lower()]) for s in gate.seen
    )


@pytest.mark.parametrize("code", [pytest.param(c, id=str(c)) for c in (500, 502, 503, 504, 429)])
def test_retried_statuses_stop_after_the_retries(serve: Callable[..., Gate], code: int) -> None:
    """Always failing: 1 + retries attempts, the last answer in the error."""
    gate = serve(status(code, b"try later"))
    sleeps = Sleeps()
    result = hooks.call(gate.url, b"{}", timeout=2, retries=3, sleep=sleeps)
    assert (result.ok, result.status, result.attempts) == (False, code, 4)
    assert result.error == f"HTTP {code}: try later"
    assert sleeps == [0.5, 1.0, 2.0]
    assert len(gate.seen) == 4


def test_no_retries_means_one_attempt(serve: Callable[..., Gate]) -> None:
    """retries=0: a 503 is the result, no backoff."""
    gate = serve(status(503))
    sleeps = Sleeps()
    assert hooks.call(gate.url, b"{}", timeout=2, retries=0, sleep=sleeps).attempts == 1
    assert sleeps == []


def test_the_backoff_doubles_and_is_capped() -> None:
    """0.5 s doubling, at most 5 s."""
    assert [hooks.backoff(n) for n in range(7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert hooks.backoff(10_000) == 5.0


def test_a_closed_port_is_unreachable_and_retried() -> None:
    """Connection refused: an error saying so, retried like any connection error."""
    sleeps = Sleeps()
    result = hooks.call(
        f"http://127.0.0.1:{closed_port()}/gate", b"{}", timeout=2, retries=1, sleep=sleeps
    )
    assert (result.ok, result.status, result.attempts) == (False, None, 2)
    assert result.error == "unreachable: Connection refused"
    assert sleeps == [0.5]


def test_elapsed_is_measured_with_the_injected_clock() -> None:
    """`now` is read at the start and the end; timeouts from the opener are retried."""
    ticks = iter([100.0, 107.5])

    def late(request: Any, timeout: float) -> Any:
        raise TimeoutError

    sleeps = Sleeps()
    result = hooks.call(
        "http://gate.invalid/", b"{}", timeout=2, retries=2, opener=late, sleep=sleeps,
        now=lambda: next(ticks),
    )  # fmt: skip
    assert result == hooks.CallResult(
        ok=False, status=None, error="no answer within 2s", attempts=3, elapsed=7.5
    )
    assert sleeps == [0.5, 1.0]


def test_a_failing_opener_is_a_result_not_an_exception() -> None:
    """Whatever an opener raises is an error naming its type only, not retried."""

    def broken(request: Any, timeout: float) -> Any:
        raise RuntimeError(f"cannot open {request.full_url}")

    result = hooks.call(
        "http://gate.invalid/t0ken-path", b"{}", timeout=2, retries=2, opener=broken
    )
    assert result.error == "the webhook call failed (RuntimeError)"
    assert result.attempts == 1


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("ftp://gate.example/t0ken", id="ftp"),
        pytest.param("file:///etc/t0ken", id="file"),
        pytest.param("gate.example/t0ken", id="no-scheme"),
        pytest.param("http://gate.example:t0ken/", id="bad-port"),
        pytest.param("http:///t0ken", id="no-host"),
    ],
)
def test_a_url_that_is_not_http_is_refused_unsent(url: str) -> None:
    """No attempt at all; the error does not quote the URL."""
    result = hooks.call(url, b"{}", timeout=2, retries=2)
    assert result == hooks.CallResult(
        ok=False,
        status=None,
        error="the webhook URL is not an http or https URL",
        attempts=0,
        elapsed=result.elapsed,
    )


# -- deadlines --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        pytest.param(drip_headers, "no answer within 1s", id="headers-dripped"),
        pytest.param(drip_body(503), "HTTP 503: x", id="error-body-dripped"),
    ],
)
def test_a_dripping_server_ends_at_the_deadline(
    serve: Callable[..., Gate], reply: Reply, error: str
) -> None:
    """One byte every 0.5 s, each in time, the answer not: the attempt ends at `timeout`."""
    gate = serve(reply)
    started = time.monotonic()
    result = hooks.call(gate.url, b"{}", timeout=1, retries=0)
    took = time.monotonic() - started
    assert not result.ok
    assert result.error is not None
    assert result.error.startswith(error)
    assert 0.9 <= took <= 1.0 + GRACE


def test_the_whole_call_is_bounded(serve: Callable[..., Gate]) -> None:
    """retries=1 against a dripping server, real sleep: within 2 x timeout + 0.5 s."""
    gate = serve(drip_headers)
    started = time.monotonic()
    result = hooks.call(gate.url, b"{}", timeout=1, retries=1)
    took = time.monotonic() - started
    assert (result.error, result.attempts) == ("no answer within 1s", 2)
    assert len(gate.seen) == 2
    assert 2.4 <= took <= 2 * 1.0 + 0.5 + GRACE
    assert result.elapsed <= took


# -- no URL, no secret in an error ---------------------------------------------------------

TOKEN_PATH = "/services/T0001/B0002/XyZsEcReTpAtH"
TOKEN = "q-t0ken-value"


def _echo(handler: _Handler) -> None:
    """A 500 quoting everything it was sent: path, headers, body."""
    text = f"bad request to {handler.path} with {dict(handler.headers)}".encode()
    status(500, text)(handler)


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(_echo, id="echoes-the-request"),
        pytest.param(
            status(403, f"bad signature for key {SECRET.decode()} at {TOKEN}".encode()),
            id="echoes-the-secret",
        ),
        pytest.param(cut_after(403, b"denied: key " + SECRET[:9]), id="cut-inside-the-secret"),
    ],
)
def test_no_secret_or_url_in_an_error(serve: Callable[..., Gate], reply: Reply) -> None:
    """The URL's path and query, the secret and the signature key never show; echoed
    pieces are masked, also one the answer stopped in the middle of."""
    gate = serve(reply)
    url = f"{gate.url}{TOKEN_PATH}?token={TOKEN}"
    result = hooks.call(url, b"{}", timeout=1, retries=1, secret=SECRET, sleep=Sleeps())
    assert result.error is not None
    assert result.error.startswith(("HTTP 500: bad request to ***", "HTTP 403: "))
    assert "***" in result.error
    for leak in ("XyZsEcReTpAtH", TOKEN, SECRET.decode(), SECRET[:4].decode(), gate.url):
        assert leak not in result.error


def test_user_info_is_sent_as_basic_auth_and_never_shown(serve: Callable[..., Gate]) -> None:
    """`http://user:password@host/` authenticates (Basic); an echo of it is masked."""
    gate = serve(_echo)
    url = gate.url.replace("http://", "http://hook-user:p4ss%40word@") + "/h"
    result = hooks.call(url, b"{}", timeout=2, retries=0)
    [seen] = gate.seen
    assert seen.headers["authorization"] == "Basic aG9vay11c2VyOnA0c3NAd29yZA=="
    assert seen.path == "/h"
    assert result.error is not None
    for leak in ("p4ss", "hook-user", "aG9vay11c2Vy"):
        assert leak not in result.error


def test_a_refused_url_with_credentials_does_not_show_them() -> None:
    """Unreachable with a token in the URL: the error has neither URL nor token."""
    url = f"http://u:pw-s3cr3t@127.0.0.1:{closed_port()}{TOKEN_PATH}?token={TOKEN}"
    result = hooks.call(url, b"{}", timeout=2, retries=0, secret=SECRET)
    assert result.error == "unreachable: Connection refused"


# -- encoding and signatures ------------------------------------------------------------


def test_encode_is_canonical() -> None:
    """Sorted keys, no spaces, UTF-8 as is, datetimes as RFC 3339 UTC with Z."""
    plus_two = timezone(timedelta(hours=2))
    body = hooks.encode(
        {"b": [1, 2.5, None, True], "a": datetime(2025, 1, 1, 14, 0, 0, 250000, tzinfo=plus_two),
         "é": "✓"}
    )  # fmt: skip
    assert body == '{"a":"2025-01-01T12:00:00.250000Z","b":[1,2.5,null,true],"é":"✓"}'.encode()
    assert hooks.encode({"x": 1, "y": 2}) == hooks.encode({"y": 2, "x": 1})


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        pytest.param({"at": datetime(2025, 1, 1)}, ValueError, id="naive-datetime"),
        pytest.param({"v": math.nan}, ValueError, id="nan"),
        pytest.param({"v": -math.inf}, ValueError, id="infinity"),
        pytest.param({"v": object()}, TypeError, id="object"),
    ],
)
def test_encode_refuses_what_json_cannot_say(payload: dict[str, Any], error: type) -> None:
    """An ambiguous time, NaN or an object is a programming error, raised."""
    with pytest.raises(error):
        hooks.encode(payload)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param("sha1=" + "0" * 40, id="other-algorithm"),
        pytest.param("sha256=é", id="not-ascii"),
    ],
)
def test_verify_refuses_what_is_not_the_signature(header: str | None) -> None:
    """Missing, empty, foreign or non-ASCII headers do not verify (and do not raise)."""
    assert not hooks.verify(b"{}", SECRET, header)


def test_sign_is_hmac_sha256_hex() -> None:
    """The RFC 4231 test case 2 ("Jefe"), prefixed with sha256=."""
    assert hooks.sign(b"what do ya want for nothing?", b"Jefe") == (
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
_payloads = st.dictionaries(st.text(), _json | st.datetimes(timezones=st.just(UTC)), max_size=6)


@given(payload=_payloads, secret=st.binary(min_size=1, max_size=64), data=st.data())
def test_a_signature_holds_for_its_body_and_breaks_on_any_byte(
    payload: dict[str, Any], secret: bytes, data: st.DataObject
) -> None:
    """verify(encode(p), s, sign(encode(p), s)); changing any one byte breaks it."""
    body = hooks.encode(payload)
    signature = hooks.sign(body, secret)
    assert hooks.verify(body, secret, signature)
    at = data.draw(st.integers(0, len(body) - 1), label="at")
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != body[at]), label="byte")
    changed = body[:at] + bytes([byte]) + body[at + 1 :]
    assert not hooks.verify(changed, secret, signature)


@given(payload=st.dictionaries(st.text(), _json, max_size=6))
def test_encode_round_trips_json(payload: dict[str, Any]) -> None:
    """The bytes are JSON that reads back as the payload."""
    assert json.loads(hooks.encode(payload)) == payload
