"""`prometheus`: result parsing, error reasons, and readings through the real client
against a stub `/api/v1/query` server (stdlib http.server on 127.0.0.1, in a thread).

The real Prometheus is exercised in tests/e2e/test_prometheus_provider.py.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import ValidationError

from rollout.analysis import evaluate, measurement
from rollout.analysis.providers import prometheus
from rollout.api import policyspec
from rollout.api.release import Verdict

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
CTX = measurement.MeasureContext(
    namespace="prod", service="web", stable="web-1", canary="web-2", now=NOW
)


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        pytest.param(
            [{"metric": {}, "value": [1.0, "0.25"]}], prometheus.Parsed(value=0.25), id="one-series"
        ),
        pytest.param(
            [{"metric": {"a": "b"}, "value": [1.0, "0"]}], prometheus.Parsed(value=0.0), id="zero"
        ),
        pytest.param(
            [{"metric": {}, "value": [1, "+Inf"]}], prometheus.Parsed(value=float("inf")), id="inf"
        ),
        pytest.param([1.5, "3"], prometheus.Parsed(value=3.0), id="scalar"),
        pytest.param([], prometheus.Parsed(note="the query returned no data"), id="empty"),
    ],
)
def test_parse_result_values(result: Any, expected: prometheus.Parsed) -> None:
    """One series or a scalar is a value; an empty result is no data."""
    assert prometheus.parse_result(result) == expected


def test_parse_result_nan_is_no_data() -> None:
    """NaN (e.g. 0/0 requests) is no data, never a value."""
    parsed = prometheus.parse_result([{"metric": {}, "value": [1.0, "NaN"]}])
    assert parsed.value is None
    assert parsed.error is None
    assert parsed.note is not None
    assert "NaN" in parsed.note


@pytest.mark.parametrize(
    ("result", "error"),
    [
        pytest.param(
            [{"metric": {"r": "a"}, "value": [1, "1"]}, {"metric": {"r": "b"}, "value": [1, "2"]}],
            "the query returned 2 series; aggregate to one (e.g. sum(...))",
            id="two-series",
        ),
        pytest.param(
            [{"metric": {}, "values": [[1, "1"], [2, "2"]]}], "range vector", id="range-vector"
        ),
        pytest.param([1.0, "hello"], "not a number", id="string"),
        pytest.param({"weird": True}, "unexpected result", id="not-a-list"),
        pytest.param([{"metric": {}}], "unexpected series", id="no-value"),
        pytest.param(["x"], "unexpected result", id="not-a-series"),
    ],
)
def test_parse_result_errors(result: Any, error: str) -> None:
    """Several series, range vectors and odd shapes are errors with a reason."""
    parsed = prometheus.parse_result(result)
    assert parsed.value is None
    assert parsed.error is not None
    assert error in parsed.error


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param(
            'HTTP Status Code 400 (b\'{"status":"error","errorType":"bad_data",'
            '"error":"1:9: parse error: unclosed left parenthesis"}\')',
            "bad query (HTTP 400): bad_data: 1:9: parse error: unclosed left parenthesis"
            " — query: sum(rate(",
            id="bad-query",
        ),
        pytest.param(
            'HTTP Status Code 503 (b\'{"status":"error","errorType":"timeout",'
            '"error":"query timed out in expression evaluation"}\')',
            "Prometheus answered HTTP 503: timeout: query timed out in expression evaluation",
            id="server-timeout",
        ),
        pytest.param(
            "HTTP Status Code 404 (b'404 page not found\\n')",
            "Prometheus answered HTTP 404: 404 page not found",
            id="not-json",
        ),
        pytest.param("something else", "Prometheus error: something else", id="unknown-shape"),
    ],
)
def test_describe_api_error(message: str, expected: str) -> None:
    """Prometheus's own message is pulled out of the client's exception text."""
    assert prometheus.describe_api_error(message, "sum(rate(") == expected


# -- readings through the real client against a stub server ----------------------------


class _Stub(http.server.BaseHTTPRequestHandler):
    # per test (the fixture makes a subclass): query → (status, body, delay), queries seen
    answers: ClassVar[dict[str, tuple[int, Any, float]]] = {}
    seen: ClassVar[list[str]] = []
    headers_seen: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        parsed = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(parsed.query).get("query", [""])[0]
        self.seen.append(query)
        self.headers_seen.append({k.lower(): v for k, v in self.headers.items()})
        at = urllib.parse.parse_qs(parsed.query).get("time", [""])[0]
        default = self.answers.get(query, (200, _vector([]), 0.0))
        status, body, delay = self.answers.get(f"{query}@{at}", default)
        time.sleep(delay)
        data = json.dumps(body).encode() if not isinstance(body, bytes) else body
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _vector(result: list[Any]) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


@pytest.fixture
def stub() -> Iterator[tuple[str, type[_Stub]]]:
    handler = type("Handler", (_Stub,), {"answers": {}, "seen": [], "headers_seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def metric(address: str, query: str, **fields: Any) -> policyspec.Metric:
    return policyspec.Metric.model_validate(
        {
            "name": "m",
            "provider": {"prometheus": {"address": address, "query": query, "timeout": "2s"}},
            "thresholds": {"max": 0.1},
            **fields,
        }
    )


def test_query_is_rendered_and_escaped(stub: tuple[str, type[_Stub]]) -> None:
    """The server receives the rendered query with the values escaped."""
    address, handler = stub
    ctx = measurement.MeasureContext(
        namespace="prod", service="web", stable=None, canary='we"b', now=NOW
    )
    provider = prometheus.PrometheusProvider()
    provider.measure(metric(address, 'x{revision="{{revision}}"}[{{window}}]'), ctx)
    assert handler.seen == ['x{revision="we\\"b"}[1m]']


@pytest.mark.parametrize(
    ("body", "verdict", "value"),
    [
        pytest.param(
            _vector([{"metric": {}, "value": [1, "0.02"]}]), Verdict.PASSED, 0.02, id="pass"
        ),
        pytest.param(
            _vector([{"metric": {}, "value": [1, "0.5"]}]), Verdict.FAILED, 0.5, id="fail"
        ),
        pytest.param(_vector([]), Verdict.INCONCLUSIVE, None, id="empty"),
        pytest.param(
            _vector([{"metric": {}, "value": [1, "NaN"]}]), Verdict.INCONCLUSIVE, None, id="nan"
        ),
    ],
)
def test_reading_verdicts(
    stub: tuple[str, type[_Stub]], body: Any, verdict: Verdict, value: float | None
) -> None:
    """A value is judged by evaluate; no data is Inconclusive."""
    address, handler = stub
    handler.answers["q"] = (200, body, 0.0)
    m = metric(address, "q")
    reading = prometheus.PrometheusProvider().measure(m, CTX)
    assert reading.error is None
    assert reading.value == value
    assert evaluate.evaluate(m, reading, None).verdict is verdict


def test_bad_query_is_an_error_with_prometheus_message(stub: tuple[str, type[_Stub]]) -> None:
    """HTTP 400 from the server: an error naming the parse error."""
    address, handler = stub
    handler.answers["sum(rate("] = (
        400,
        {"status": "error", "errorType": "bad_data", "error": "parse error: unclosed"},
        0.0,
    )
    reading = prometheus.PrometheusProvider().measure(metric(address, "sum(rate("), CTX)
    assert reading.error is not None
    assert "bad query (HTTP 400): bad_data: parse error: unclosed" in reading.error


def test_slow_server_times_out(stub: tuple[str, type[_Stub]]) -> None:
    """No answer within the provider's timeout: an error, after about the timeout."""
    address, handler = stub
    handler.answers["slow"] = (200, _vector([]), 3.0)
    m = policyspec.Metric.model_validate(
        {
            "name": "m",
            "provider": {"prometheus": {"address": address, "query": "slow", "timeout": "300ms"}},
            "thresholds": {"max": 1},
        }
    )
    start = time.monotonic()
    reading = prometheus.PrometheusProvider().measure(m, CTX)
    assert time.monotonic() - start < 2.0
    assert reading.error == f"Prometheus at {address}: no complete answer within 0.3s"


def test_unreachable_is_an_error_without_retries() -> None:
    """Nothing listening: an error at once (no retry backoff inside a reading)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"http://127.0.0.1:{port}"
    start = time.monotonic()
    reading = prometheus.PrometheusProvider().measure(metric(address, "up"), CTX)
    assert time.monotonic() - start < 1.0
    assert reading.error is not None
    assert reading.error.startswith(f"Prometheus at {address} is unreachable: ")
    assert "Connection refused" in reading.error


def test_compare_reads_both_revisions_counters_at_two_instants(
    stub: tuple[str, type[_Stub]],
) -> None:
    """`counts` templates read at the previous reading's end and `delay` before now,
    for the canary and the stable: their increments, a reset counting from 0."""
    address, handler = stub
    start = int(NOW.timestamp()) - 300
    end = int(NOW.timestamp()) - 15  # the default delay
    for revision, before, after in (
        ("web-2", (100, 2), (150, 6)),
        ("web-1", (1000, 1), (40, 1)),  # the stable's pod restarted: counts from 0
    ):
        for name, at, value in (
            ("req", start, before[0]),
            ("err", start, before[1]),
            ("req", end, after[0]),
            ("err", end, after[1]),
        ):
            query = f'{name}{{rev="{revision}"}}'
            handler.answers[f"{query}@{at}"] = (
                200,
                _vector([{"metric": {"pod": "a"}, "value": [at, str(value)]}]),
                0.0,
            )
    m = policyspec.Metric.model_validate(
        {
            "name": "errors",
            "provider": {
                "prometheus": {
                    "address": address,
                    "counts": {
                        "requests": 'req{rev="{{revision}}"}',
                        "errors": 'err{rev="{{revision}}"}',
                    },
                }
            },
            "compare": {"against": "stable", "method": "sequential"},
        }
    )
    ctx = dataclasses.replace(CTX, measured_until=datetime.fromtimestamp(start, UTC))
    reading = prometheus.PrometheusProvider().measure(m, ctx)
    assert reading.error is None
    assert reading.canary == measurement.Counts(50, 4)
    assert reading.stable == measurement.Counts(40, 0)  # 1 error before, 1 after: none new
    assert reading.until == datetime.fromtimestamp(end, UTC)
    assert evaluate.evaluate(m, reading, None).verdict is not Verdict.ERROR


@pytest.mark.parametrize(
    ("provider", "gates", "says"),
    [
        ({"query": "up"}, {"compare": {}}, "compare with prometheus reads counters"),
        (
            {"counts": {"requests": "r", "errors": "e"}},
            {"compare": {"method": "mann-whitney"}},
            "Prometheus does not keep",
        ),
        ({"counts": {"requests": "r", "errors": "e"}}, {"thresholds": {"max": 1}}, "give one"),
        (
            {"query": "up", "counts": {"requests": "r", "errors": "e"}},
            {"thresholds": {"max": 1}},
            "read only by compare",
        ),
        ({"query": "up"}, {"compare": {}, "thresholds": {"max": 1}}, "reads counters"),
        ({}, {"thresholds": {"max": 1}}, "give query"),
    ],
)
def test_what_each_gate_needs_from_prometheus_is_checked(
    provider: dict[str, Any], gates: dict[str, Any], says: str
) -> None:
    with pytest.raises(ValueError, match=says):
        policyspec.Metric.model_validate(
            {
                "name": "m",
                "provider": {"prometheus": {"address": "http://p:9090", **provider}},
                **gates,
            }
        )


def test_clients_are_cached_per_address(stub: tuple[str, type[_Stub]]) -> None:
    """One client per address, reused across readings."""
    address, _ = stub
    made: list[str] = []
    real: Callable[[str], Any] = prometheus.connect

    def connect(a: str) -> Any:
        made.append(a)
        return real(a)

    provider = prometheus.PrometheusProvider(connect)
    for _ in range(3):
        provider.measure(metric(address, "up"), CTX)
    provider.measure(metric(address + "/", "up"), CTX)
    assert made == [address, address + "/"]
    provider.close()


# -- Prometheus as people run it: headers, bearer tokens, TLS with a CA bundle ----------------


def test_headers_and_a_bearer_token_are_sent_and_the_token_never_shown(
    stub: tuple[str, type[_Stub]], monkeypatch: pytest.MonkeyPatch
) -> None:
    address, handler = stub
    monkeypatch.setenv("PROM_TOKEN", "tok-9f8e7d")
    handler.answers["up"] = (500, {"status": "error", "error": "tok-9f8e7d rejected"}, 0.0)
    m = metric(address, "up")
    spec = m.provider.prometheus
    assert spec is not None
    m = m.model_copy(
        update={
            "provider": m.provider.model_copy(
                update={
                    "prometheus": spec.model_copy(
                        update={
                            "headers": {"X-Scope-OrgID": "team-a"},
                            "bearer_token_from": policyspec.ValueFrom(env="PROM_TOKEN"),
                        }
                    )
                }
            )
        }
    )
    reading = prometheus.PrometheusProvider().measure(m, CTX)
    (sent,) = handler.headers_seen
    assert sent["x-scope-orgid"] == "team-a"
    assert sent["authorization"] == "Bearer tok-9f8e7d"
    assert reading.error is not None
    assert "tok-9f8e7d" not in reading.error
    assert "*** rejected" in reading.error


def test_an_unreadable_token_is_an_error_and_nothing_is_sent(
    stub: tuple[str, type[_Stub]], monkeypatch: pytest.MonkeyPatch
) -> None:
    address, handler = stub
    monkeypatch.delenv("NO_TOKEN", raising=False)
    m = policyspec.Metric.model_validate(
        {
            "name": "m",
            "provider": {
                "prometheus": {
                    "address": address,
                    "query": "up",
                    "bearerTokenFrom": {"env": "NO_TOKEN"},
                }
            },
            "thresholds": {"max": 1},
        }
    )
    reading = prometheus.PrometheusProvider().measure(m, CTX)
    assert reading.error is not None
    assert "NO_TOKEN" in reading.error
    assert handler.seen == []


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        (
            {"headers": {"Authorization": "x"}, "bearerTokenFrom": {"env": "T"}},
            "not both",
        ),
        ({"caFile": "/etc/ca.pem"}, "verifies an https address"),
        ({"caFile": "relative.pem", "address": "https://p"}, "absolute"),
        ({"headers": {"X-A": "1", "x-a": "2"}}, "duplicate header"),
        (
            {
                "basicAuth": {"username": "u", "passwordFrom": {"env": "P"}},
                "bearerTokenFrom": {"env": "T"},
            },
            "give one credential",
        ),
        (
            {"basicAuth": {"username": "a:b", "passwordFrom": {"env": "P"}}},
            "without ':'",
        ),
    ],
)
def test_bad_connection_settings_are_refused(fields: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        policyspec.PrometheusProvider.model_validate(
            {"address": "http://prom:9090", "query": "up"} | fields
        )


@pytest.fixture
def tls_stub(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The stub over https with a certificate of a CA made for the test (openssl)."""
    ca_key, ca_pem = tmp_path / "ca.key", tmp_path / "ca.pem"
    key, csr, pem = tmp_path / "srv.key", tmp_path / "srv.csr", tmp_path / "srv.pem"
    ext = tmp_path / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    for args in (
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca_pem,
         "-days", "1", "-subj", "/CN=test-ca"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj",
         "/CN=127.0.0.1"],
        ["x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key, "-CAcreateserial",
         "-out", pem, "-days", "1", "-extfile", ext],
    ):  # fmt: skip
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)
    handler = type("Handler", (_Stub,), {"answers": {}, "seen": [], "headers_seen": []})
    handler.answers["up"] = (200, _vector([{"metric": {}, "value": [1, "1"]}]), 0.0)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", ca_pem
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_https_is_verified_against_the_ca_bundle_given(tls_stub: tuple[str, Path]) -> None:
    address, ca_pem = tls_stub
    trusted = policyspec.Metric.model_validate(
        {
            "name": "m",
            "provider": {"prometheus": {"address": address, "query": "up", "caFile": str(ca_pem)}},
            "thresholds": {"max": 1},
        }
    )
    reading = prometheus.PrometheusProvider().measure(trusted, CTX)
    assert (reading.error, reading.value) == (None, 1.0)
    untrusted = metric(address, "up")
    refused = prometheus.PrometheusProvider().measure(untrusted, CTX)
    assert refused.error is not None
    assert "certificate" in refused.error.lower() or "ssl" in refused.error.lower()


def samples_metric(address: str, **fields: Any) -> policyspec.Metric:
    return policyspec.Metric.model_validate(
        {
            "name": "m",
            "provider": {
                "prometheus": {
                    "address": address,
                    "query": "rate",
                    "samplesQuery": 'count{revision="{{revision}}"}[{{window}}]',
                }
            },
            "thresholds": {"max": 0.1},
            "minSamples": 50,
            **fields,
        }
    )


@pytest.mark.parametrize(
    ("requests", "verdict"),
    [
        pytest.param(
            _vector([{"metric": {}, "value": [1, "49.7"]}]), Verdict.INCONCLUSIVE, id="49"
        ),
        pytest.param(_vector([]), Verdict.INCONCLUSIVE, id="no-data-is-0"),
        pytest.param(_vector([{"metric": {}, "value": [1, "50"]}]), Verdict.PASSED, id="50"),
    ],
)
def test_min_samples_holds_a_threshold_back_until_the_samples_query_counts_enough(
    stub: tuple[str, type[_Stub]], requests: Any, verdict: Verdict
) -> None:
    address, handler = stub
    handler.answers["rate"] = (200, _vector([{"metric": {}, "value": [1, "0.01"]}]), 0.0)
    handler.answers['count{revision="web-2"}[1m]'] = (200, requests, 0.0)
    m = samples_metric(address)
    reading = prometheus.PrometheusProvider().measure(m, CTX)
    assert evaluate.evaluate(m, reading, None).verdict is verdict
    assert 'count{revision="web-2"}[1m]' in handler.seen


def test_a_failing_samples_query_is_an_error_reading(stub: tuple[str, type[_Stub]]) -> None:
    address, handler = stub
    handler.answers["rate"] = (200, _vector([{"metric": {}, "value": [1, "0.01"]}]), 0.0)
    handler.answers['count{revision="web-2"}[1m]'] = (
        400, {"status": "error", "errorType": "bad_data", "error": "parse error"}, 0.0,
    )  # fmt: skip
    reading = prometheus.PrometheusProvider().measure(samples_metric(address), CTX)
    assert reading.error is not None
    assert reading.error.startswith("samplesQuery: ")
    assert "parse error" in reading.error


@pytest.mark.parametrize(
    ("provider", "fields", "message"),
    [
        (
            {"prometheus": {"address": "http://p:9090", "query": "q"}},
            {"thresholds": {"max": 1}, "minSamples": 10},
            "minSamples needs the requests behind the query",
        ),
        (
            {"prometheus": {"address": "http://p:9090", "query": "q", "samplesQuery": "s"}},
            {"compare": {"method": "sequential"}},
            "samplesQuery counts the requests behind a threshold",
        ),
        (
            {"web": {"url": "http://w/x"}},
            {"thresholds": {"max": 1}, "minSamples": 10},
            "a web reading carries no request count",
        ),
    ],
)
def test_min_samples_where_it_could_not_act_is_refused(
    provider: dict[str, Any], fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        policyspec.Metric.model_validate({"name": "m", "provider": provider, **fields})


def test_basic_auth_is_sent_and_its_password_never_shown(
    stub: tuple[str, type[_Stub]], tmp_path: Path
) -> None:
    """`basicAuth`: the password read from its source at each reading, sent as RFC 7617
    `Basic base64(user:password)`, masked in anything Prometheus echoes back."""
    address, handler = stub
    secret = tmp_path / "password"
    secret.write_text("s3cr3t-pw\n")
    encoded = prometheus.basic_credentials("grafana", "s3cr3t-pw")
    assert encoded == "Z3JhZmFuYTpzM2NyM3QtcHc="
    handler.answers["up"] = (
        500, {"status": "error", "error": f"bad credentials {encoded} s3cr3t-pw"}, 0.0,
    )  # fmt: skip
    m = policyspec.Metric.model_validate(
        {
            "name": "m",
            "provider": {
                "prometheus": {
                    "address": address,
                    "query": "up",
                    "basicAuth": {"username": "grafana", "passwordFrom": {"file": str(secret)}},
                }
            },
            "thresholds": {"max": 1},
        }
    )
    reading = prometheus.PrometheusProvider().measure(m, CTX)
    (sent,) = handler.headers_seen
    assert sent["authorization"] == f"Basic {encoded}"
    assert reading.error is not None
    assert "s3cr3t-pw" not in reading.error
    assert encoded not in reading.error
