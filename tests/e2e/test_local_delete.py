"""`rollout delete service` on the local platform, end to end (issue 19: a Service
could not be removed locally): with a release paused at 50%, both revisions running
and the proxy listening on the service's port, the delete takes the Service's
objects at once, and the controller stops every revision process and frees the port,
without stopping itself or the proxy — and when no controller ran at the time (a
killed one left them running), the next controller does it at its start. Waits are
on conditions with deadlines."""

from __future__ import annotations

import signal
import socket
import sys
from pathlib import Path

from localenv import HOLD, Local, alive

from rollout.platforms.local.proxy import client as proxy_client
from rollout.store import sqlite

SERVICE = """\
apiVersion: rollout.dev/v1alpha1
kind: Service
metadata: {{name: web}}
spec:
  policy: hold
  port: {port}
  template:
    spec:
      containers:
        - name: app
          command: [{python}, -m, rollout.demo.app]
          env: [{{name: VERSION, value: {version}}}]
          readinessProbe: {{httpGet: {{path: /healthz, port: 8080}}, periodSeconds: 1}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def stored(state_dir: Path, kind: str) -> list[str]:
    store = sqlite.SqliteStore(state_dir / "state.db")
    try:
        return sorted(o.metadata.name for o in store.list(kind, "default").items)
    finally:
        store.close()


def test_delete_service_stops_its_processes_and_frees_its_port(local: Local) -> None:
    port = free_port()
    local.start()
    local.apply(HOLD, "hold")
    local.apply(SERVICE.format(port=port, python=sys.executable, version="v1"), "v1")
    local.wait_serving()
    local.apply(SERVICE.format(port=port, python=sys.executable, version="v2"), "v2")
    local.wait_for(
        lambda: local.phase() == "Paused" and len(local.run_files()) == 2,
        within=60,
        what="the release paused at 50%, both revisions running",
    )
    pids = [int(info["pid"]) for info in local.run_files().values()]
    assert all(alive(pid) for pid in pids)
    assert not port_free(port)  # the proxy listens on the service's port
    proxy = local.proxy_pid()

    deleted = local.cli("delete", "service", "web")

    assert deleted.stdout == "service/web deleted\n"
    for kind in ("Service", "Revision", "Route", "Release"):  # at once, in the store
        assert stored(local.state_dir, kind) == [], kind
    local.wait_for(
        lambda: not any(alive(pid) for pid in pids) and not local.run_files(),
        within=30,
        what="every revision process stopped, its run file removed",
    )
    local.wait_for(lambda: port_free(port), within=30, what=f"port {port} freed")
    state = proxy_client.read_state(local.state_dir)
    assert state is not None
    assert state[0] == proxy
    assert alive(proxy)
    assert proxy_client.ProxyClient(state[1]).get_route("default", "web") is None
    assert local.controller is not None
    assert local.controller.poll() is None
    again = local.cli("delete", "service", "web", check=False)
    assert again.returncode == 1
    assert again.stderr == "error: service 'web' not found in namespace default\n"


def test_delete_while_no_controller_runs_is_cleaned_up_at_its_start(local: Local) -> None:
    """A controller killed (SIGKILL) leaves the revision and the proxy's listener
    running; the service is deleted meanwhile; the next controller stops the process
    and frees the port at its start."""
    port = free_port()
    local.start()
    local.apply(SERVICE.format(port=port, python=sys.executable, version="v1"), "v1")
    local.wait_serving()
    pids = [int(info["pid"]) for info in local.run_files().values()]
    assert len(pids) == 1
    local.stop(signal.SIGKILL)
    assert alive(pids[0])  # left running, for the next controller to adopt
    assert not port_free(port)

    local.cli("delete", "service", "web")
    local.start()

    local.wait_for(
        lambda: not alive(pids[0]) and not local.run_files(),
        within=30,
        what="the deleted revision's process stopped",
    )
    local.wait_for(lambda: port_free(port), within=30, what=f"port {port} freed")
