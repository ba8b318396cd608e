"""Fixtures every test directory shares.

`gates`: start webhook receivers (`hookgate.HookGate`, real HTTP servers on
127.0.0.1) — `gates(403)`, `gates(200, hang=30.0)` — each closed when the test ends.

`start_prometheus(targets)` (module-scoped factory) starts the Debian `prometheus`
binary on a free 127.0.0.1 port with its own config (`scrape_interval: 1s`, the given
`host:port` scrape targets) and its own data dir, and returns once Prometheus holds
DATA for every target (a completed scrape with samples — readiness alone is not
enough: the first scrape can come seconds after the server is ready). Every server
is stopped by its PID when the module's tests are done. The server itself:
`promserver.py` (`PrometheusServer.query`, `wait_for`, `wait_for_target`, `stop`).
Without the binary: under `CI=true` the test fails (these tests must run in CI);
elsewhere it is skipped with the reason (`make test` installs it when run as root).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator

import pytest
from hookgate import HookGate
from promserver import PrometheusServer, start_prometheus_server


@pytest.fixture
def gates() -> Iterator[Callable[..., HookGate]]:
    started: list[HookGate] = []

    def start(status: int = 200, *, hang: float = 0.0) -> HookGate:
        started.append(HookGate(status, hang=hang))
        return started[-1]

    yield start
    for gate in started:
        gate.close()


@pytest.fixture(scope="session")
def prometheus_binary() -> str:
    """The `prometheus` binary; fail under CI=true when missing, else skip."""
    found = shutil.which("prometheus")
    if found is None:
        reason = (
            "the prometheus binary is missing (Debian package `prometheus`;"
            " `make test` installs it when run as root)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " — under CI these tests must run")
        pytest.skip(reason)
    return found


@pytest.fixture(scope="module")
def start_prometheus(
    prometheus_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[list[str]], PrometheusServer]]:
    """Factory: `start_prometheus(["127.0.0.1:PORT", …])` → a server with their data."""
    servers: list[PrometheusServer] = []

    def start(targets: list[str]) -> PrometheusServer:
        workdir = tmp_path_factory.mktemp("prometheus")
        server = start_prometheus_server(prometheus_binary, targets, workdir)
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.stop()
