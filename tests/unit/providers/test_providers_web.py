"""`web`: JSON path subset, numbers, and readings from a stdlib http.server on
127.0.0.1 in a thread (status codes, bodies, headers, timeout)."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest

from rollout.analysis import evaluate, measurement
from rollout.analysis.providers import web
from rollout.api import policyspec
from rollout.api.release import Verdict

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
CTX = measurement.MeasureContext(
    namespace="prod", service="web", stable="web-1", canary="web-2", now=NOW
)
DOC = {"data": {"errorRate": 0.02, "series": [{"v": 3}, {"v": "4.5"}], "flag": True, "none": None}}


# -- JSON path subset -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "steps"),
    [
        pytest.param("$", (), id="root"),
        pytest.param("$.a.b", ("a", "b"), id="dotted"),
        pytest.param("$.a[0].b", ("a", 0, "b"), id="index"),
        pytest.param("$[2]", (2,), id="root-index"),
        pytest.param(" $.error-rate ", ("error-rate",), id="dash-and-spaces"),
    ],
)
def test_parse_path(path: str, steps: tuple[str | int, ...]) -> None:
    """The supported subset: $, .name, [index]."""
    assert web.parse_path(path) == steps


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("a.b", id="no-dollar"),
        pytest.param("$..a", id="recursive"),
        pytest.param("$.a[*]", id="wildcard"),
        pytest.param("$['a']", id="bracket-name"),
        pytest.param("$.a[-1]", id="negative-index"),
        pytest.param("$.a[?(@.x)]", id="filter"),
    ],
)
def test_parse_path_refuses_the_rest(path: str) -> None:
    """Anything outside the subset is an invalid path, said so."""
    with pytest.raises(web.PathError, match="invalid JSON path"):
        web.parse_path(path)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        pytest.param("$.data.errorRate", 0.02, id="object"),
        pytest.param("$.data.series[0].v", 3, id="list-item"),
        pytest.param("$.data.series[1].v", "4.5", id="string"),
        pytest.param("$.data.none", None, id="null"),
    ],
)
def test_select(path: str, value: Any) -> None:
    """The value at the path."""
    assert web.select(DOC, path) == value


@pytest.mark.parametrize(
    ("path", "message"),
    [
        pytest.param("$.data.missing", "$.data has no 'missing'", id="missing-key"),
        pytest.param("$.data.series[5]", "$.data.series has 2 items: no [5]", id="out-of-range"),
        pytest.param("$.data[0]", "$.data is an object, not a list: no [0]", id="index-on-object"),
        pytest.param(
            "$.data.errorRate.x",
            "$.data.errorRate is a number, not an object: no .x",
            id="into-number",
        ),
    ],
)
def test_select_missing(path: str, message: str) -> None:
    """A missing path says where it stops."""
    with pytest.raises(web.PathError) as info:
        web.select(DOC, path)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("value", "number"),
    [
        pytest.param(3, 3.0, id="int"),
        pytest.param(0.25, 0.25, id="float"),
        pytest.param("0.02", 0.02, id="numeric-string"),
        pytest.param(" 7 ", 7.0, id="padded-string"),
        pytest.param(None, None, id="null-is-no-data"),
    ],
)
def test_to_number(value: Any, number: float | None) -> None:
    """Numbers and numeric strings are values; null is no data."""
    assert web.to_number(value, "$.x") == number


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param(True, "$.x is true, not a number", id="bool"),
        pytest.param("fast", '$.x is "fast", not a number', id="word"),
        pytest.param({"a": 1}, '$.x is {"a": 1}, not a number', id="object"),
        pytest.param([1], "$.x is [1], not a number", id="list"),
    ],
)
def test_to_number_refuses(value: Any, message: str) -> None:
    """Booleans, words, objects and lists are not numbers."""
    with pytest.raises(web.PathError) as info:
        web.to_number(value, "$.x")
    assert str(info.value) == message


# -- readings over HTTP -----------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, bytes, float]]] = {}  # path → status, body, delay
    seen: ClassVar[list[tuple[str, str | None]]] = []  # (path, X-Token header)

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("X-Token")))
        status, body, delay = self.routes.get(self.path, (404, b"no such path", 0.0))
        time.sleep(delay)
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {"routes": {}, "seen": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def metric(url: str, path: str = "$.data.errorRate", **provider: Any) -> policyspec.Metric:
    return policyspec.Metric.model_validate(
        {
            "name": "m",
            "provider": {"web": {"url": url, "jsonPath": path, "timeout": "1s", **provider}},
            "thresholds": {"max": 0.05},
        }
    )


@pytest.mark.parametrize(
    ("body", "verdict", "value"),
    [
        pytest.param({"data": {"errorRate": 0.01}}, Verdict.PASSED, 0.01, id="pass"),
        pytest.param({"data": {"errorRate": "0.2"}}, Verdict.FAILED, 0.2, id="fail-string-number"),
        pytest.param({"data": {"errorRate": None}}, Verdict.INCONCLUSIVE, None, id="null"),
    ],
)
def test_reading_verdicts(
    server: tuple[str, type[_Handler]], body: Any, verdict: Verdict, value: float | None
) -> None:
    """The number at the path is the value evaluate judges."""
    address, handler = server
    handler.routes["/m"] = (200, json.dumps(body).encode(), 0.0)
    m = metric(address + "/m")
    reading = web.WebProvider().measure(m, CTX)
    assert reading.error is None
    assert reading.value == value
    assert evaluate.evaluate(m, reading, None).verdict is verdict


def test_url_is_templated_and_quoted_and_headers_sent(server: tuple[str, type[_Handler]]) -> None:
    """Values are URL-quoted; the provider's headers reach the server."""
    address, handler = server
    ctx = measurement.MeasureContext(namespace="p", service="s", stable=None, canary="a&b", now=NOW)
    path = "/m?rev=a%26b&w=1m"
    handler.routes[path] = (200, b'{"data": {"errorRate": 0}}', 0.0)
    m = metric(address + "/m?rev={{revision}}&w={{window}}", headers={"X-Token": "t0k"})
    reading = web.WebProvider().measure(m, ctx)
    assert reading.error is None
    assert handler.seen == [(path, "t0k")]


@pytest.mark.parametrize(
    ("route", "path", "error"),
    [
        pytest.param((500, b"database down", 0.0), "$", "HTTP 500: database down", id="http-500"),
        pytest.param((404, b"", 0.0), "$", "HTTP 404", id="http-404"),
        pytest.param(
            (200, b"<html>ok</html>", 0.0),
            "$",
            "the response is not JSON: <html>ok</html>",
            id="not-json",
        ),
        pytest.param((200, b'{"a": 1}', 0.0), "$.b", "$ has no 'b'", id="path-missing"),
        pytest.param((200, b'{"a": true}', 0.0), "$.a", "$.a is true, not a number", id="bool"),
        pytest.param((200, b'{"a": 1}', 0.0), "$.a[*]", "invalid JSON path", id="bad-path"),
        pytest.param((200, b"{}", 2.0), "$", "no complete answer within 1s", id="timeout"),
    ],
)
def test_error_readings(
    server: tuple[str, type[_Handler]], route: tuple[int, bytes, float], path: str, error: str
) -> None:
    """Each failure is an error reading naming the cause."""
    address, handler = server
    handler.routes["/m"] = route
    m = metric(address + "/m", path)
    reading = web.WebProvider().measure(m, CTX)
    assert reading.value is None
    assert reading.error is not None
    assert error in reading.error
    assert evaluate.evaluate(m, reading, None).verdict is Verdict.ERROR


def test_unreachable() -> None:
    """Nothing listening: an error saying unreachable."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    reading = web.WebProvider().measure(metric(f"http://127.0.0.1:{port}/m"), CTX)
    assert reading.error is not None
    assert "unreachable" in reading.error
    assert "Connection refused" in reading.error


def test_compare_is_not_supported() -> None:
    """A comparison with this provider (refused by validation too) is an error reading."""
    m = metric("http://127.0.0.1:1/").model_copy(
        update={"compare": policyspec.Compare(method=policyspec.CompareMethod.MANN_WHITNEY)}
    )
    reading = web.WebProvider().measure(m, CTX)
    assert reading.error == web.COMPARE_UNSUPPORTED
