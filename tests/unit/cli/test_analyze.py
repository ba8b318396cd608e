"""`rollout analyze SERVICE`: each metric of the service's policy measured once, now,
with what it asked, what came back and the verdict — against a real loopback JSON
endpoint for a web metric, and a dead address for a Prometheus one (exit 1)."""

from __future__ import annotations

import http.server
import json
import pathlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from rollout.api import documents, service
from rollout.cli import main
from rollout.store import factory, sqlite


class _Json(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"data": {"ratio": 0.02}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Json)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def seed(state: pathlib.Path, url: str, prometheus: str) -> None:
    state.mkdir(parents=True)
    store = sqlite.SqliteStore(state / factory.DB_FILE)
    try:
        policy, problems = documents.validate_data(
            {
                "apiVersion": "rollout.dev/v1alpha1",
                "kind": "RolloutPolicy",
                "metadata": {"name": "checked"},
                "spec": {
                    "steps": [{"setWeight": 10}, {"analysis": {"duration": "1m"}}],
                    "analysis": {
                        "metrics": [
                            {
                                "name": "ratio",
                                "provider": {
                                    "web": {
                                        "url": url + "/r/{{revision}}",
                                        "jsonPath": "$.data.ratio",
                                    }
                                },
                                "thresholds": {"max": 0.01},
                            },
                            {
                                "name": "p99",
                                "provider": {
                                    "prometheus": {
                                        "address": prometheus,
                                        "query": 'p99{revision="{{revision}}"}',
                                        "timeout": "1s",
                                    }
                                },
                                "thresholds": {"max": 0.5},
                            },
                        ]
                    },
                },
            }
        )
        assert policy is not None, problems
        store.create(policy)
        svc, problems = documents.validate_data(
            {
                "apiVersion": "rollout.dev/v1alpha1",
                "kind": "Service",
                "metadata": {"name": "web"},
                "spec": {
                    "policy": "checked",
                    "template": {"spec": {"containers": [{"name": "app", "command": ["app"]}]}},
                },
            }
        )
        assert isinstance(svc, service.Service), problems
        created = store.create(svc)
        assert isinstance(created, service.Service)
        status = created.status.model_copy(
            update={"latest_ready_revision": "web-00002", "stable_revision": "web-00001"}
        )
        store.update_status(created.model_copy(update={"status": status}))
    finally:
        store.close()


def test_each_metric_says_what_it_asked_what_came_back_and_the_verdict(
    tmp_path: pathlib.Path, endpoint: str
) -> None:
    state = tmp_path / "state"
    seed(state, endpoint, "http://127.0.0.1:9")
    result = CliRunner().invoke(main.cli, ["analyze", "web", "--state-dir", str(state)])
    assert result.exit_code == 1, result.output  # the Prometheus metric is an Error
    out = result.stdout
    assert "web: canary web-00002, stable web-00001" in out
    assert f"asked: GET {endpoint}/r/web-00002" in out
    assert "got:   0.02" in out
    assert "verdict: Failed — 0.02 > max 0.01" in out
    assert 'asked: p99{revision="web-00002"}  (at http://127.0.0.1:9)' in out
    assert "verdict: Error — provider error: Prometheus at http://127.0.0.1:9 is unreachable" in out

    only = CliRunner().invoke(
        main.cli, ["analyze", "web", "--metric", "ratio", "-o", "json", "--state-dir", str(state)]
    )
    assert only.exit_code == 0, only.output
    (row,) = [json.loads(line) for line in only.stdout.splitlines()]
    assert (row["metric"], row["value"], row["verdict"]) == ("ratio", 0.02, "Failed")


def test_an_unknown_metric_or_service_is_one_line(tmp_path: pathlib.Path, endpoint: str) -> None:
    state = tmp_path / "state"
    seed(state, endpoint, "http://127.0.0.1:9")
    missing = CliRunner().invoke(
        main.cli, ["analyze", "web", "--metric", "nope", "--state-dir", str(state)]
    )
    assert missing.exit_code == 2
    assert "has no metric 'nope'" in missing.stderr
    gone = CliRunner().invoke(main.cli, ["analyze", "api", "--state-dir", str(state)])
    assert gone.exit_code == 1
    assert "service 'api' not found" in gone.stderr
