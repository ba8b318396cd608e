"""A real Prometheus server for end-to-end tests (DESIGN §10); fixtures in conftest.py.

`start_prometheus_server(binary, targets, workdir)` starts the Debian `prometheus`
binary on a free 127.0.0.1 port with its own config (`scrape_interval: 1s`, the given
`host:port` scrape targets) and its own data dir, and returns once Prometheus holds
DATA for every target (a completed scrape with samples — readiness alone is not
enough: the first scrape can come seconds after the server is ready). Every server
is stopped by its PID (`stop()`; the conftest fixture stops them all at the end of
the module). `free_port()` for exporters and unreachable addresses.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

PROMETHEUS_READY_TIMEOUT = 60.0  # seconds until a target's first samples are queryable


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclasses.dataclass
class PrometheusServer:
    """A Prometheus process started by a test; `url` is its HTTP API base."""

    url: str
    process: subprocess.Popen[bytes]
    workdir: Path

    @property
    def log(self) -> Path:
        return self.workdir / "prometheus.log"

    def query(self, promql: str, timeout: float = 5.0) -> list[Any]:
        """`data.result` of an instant query (raises on an HTTP or API error)."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = json.load(response)
        result: list[Any] = body["data"]["result"]
        return result

    def wait_for(self, promql: str, timeout: float = PROMETHEUS_READY_TIMEOUT) -> list[Any]:
        """Poll until `promql` returns a non-empty result; fail with the log at the deadline."""
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"prometheus exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                result = self.query(promql)
                if result:
                    return result
                last = "empty result"
            except (OSError, ValueError, KeyError) as exc:  # not listening yet
                last = exc
            time.sleep(0.2)
        pytest.fail(
            f"no data for {promql!r} from Prometheus within {timeout:g}s (last: {last})\n"
            f"{self.log_tail()}"
        )

    def wait_for_target(self, target: str, timeout: float = PROMETHEUS_READY_TIMEOUT) -> None:
        """Until a scrape of `target` has stored samples."""
        self.wait_for(f'scrape_samples_scraped{{instance="{target}"}} > 0', timeout)

    def stop(self) -> None:
        """SIGTERM by PID, then SIGKILL if it lingers."""
        if self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _config(targets: list[str]) -> str:
    listed = ", ".join(json.dumps(t) for t in targets)
    return (
        "global:\n"
        "  scrape_interval: 1s\n"
        "  scrape_timeout: 1s\n"
        "  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: e2e\n"
        "    static_configs:\n"
        f"      - targets: [{listed}]\n"
    )


def start_prometheus_server(binary: str, targets: list[str], workdir: Path) -> PrometheusServer:
    """Start Prometheus scraping `targets` every second; return once it has their data."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    config.write_text(_config(targets))
    port = free_port()
    with (workdir / "prometheus.log").open("ab") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=1h",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
    server = PrometheusServer(url=f"http://127.0.0.1:{port}", process=process, workdir=workdir)
    try:
        for target in targets:
            server.wait_for_target(target)
    except BaseException:
        server.stop()
        raise
    return server
