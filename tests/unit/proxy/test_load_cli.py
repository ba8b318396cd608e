"""`rollout load` and the load generator against a local stdlib server."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from rollout.cli import main
from rollout.platforms.local import loadgen


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            status = 503 if self.path == "/fail" else 200
            body = self.headers.get("X-Echo", "ok").encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Rollout-Revision", "web-00001")
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(10)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_percentile_nearest_rank() -> None:
    """Nearest-rank quantiles; None for no data."""
    values = [float(i) for i in range(1, 101)]
    assert [loadgen.percentile(values, q) for q in (0.5, 0.9, 0.99, 1.0)] == [50, 90, 99, 100]
    assert loadgen.percentile([], 0.5) is None


def test_load_json_counts_every_request(server_url: str) -> None:
    """--json: every request sent at the rate is counted, by class and by revision."""
    result = CliRunner().invoke(
        main.cli, ["load", server_url + "/", "--rps", "40", "--duration", "1s", "--json", "-q"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["sent"], data["done"], data["codes"]["2xx"], data["failed"]) == (40, 40, 40, 0)
    assert data["byRevision"] == {"web-00001": 40}
    assert data["latency"]["p50"] > 0


def test_load_counts_failures_by_revision(server_url: str) -> None:
    """5xx answers count as failed, for the revision that served them."""
    result = CliRunner().invoke(
        main.cli, ["load", server_url + "/fail", "--rps", "20", "--duration", "500ms", "--json"]
    )
    data = json.loads(result.stdout)
    assert (data["codes"]["5xx"], data["failedByRevision"]) == (10, {"web-00001": 10})


def test_load_summary_and_headers(server_url: str) -> None:
    """The summary names the counts; --header is sent."""
    result = CliRunner().invoke(
        main.cli,
        ["load", server_url + "/", "--rps", "10", "--duration", "500ms", "-H", "X-Echo: hi"],
    )
    assert result.exit_code == 0
    assert "5 requests in" in result.stdout
    assert "status: 2xx 5" in result.stdout
    assert "served by: web-00001 5 (0 failed)" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--header", "nocolon"], "--header 'nocolon' is not NAME:VALUE"),
        (["--duration", "10"], "--duration: '10' is not a duration"),
    ],
    ids=["bad-header", "duration-without-unit"],
)
def test_usage_errors_exit_2(server_url: str, args: list[str], message: str) -> None:
    """Bad options are one line on stderr and exit 2."""
    result = CliRunner().invoke(main.cli, ["load", server_url, "--rps", "1", *args])
    assert result.exit_code == 2
    assert message in result.stderr


def test_nothing_listening_exits_1() -> None:
    """When no request gets an HTTP answer the command fails."""
    url = f"http://127.0.0.1:{_closed_port()}/"
    result = CliRunner().invoke(main.cli, ["load", url, "--rps", "10", "--duration", "300ms", "-q"])
    assert result.exit_code == 1
    assert "connection errors 3" in result.stdout
    assert "got an HTTP answer" in result.stderr
