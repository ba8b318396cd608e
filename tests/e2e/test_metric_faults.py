"""End to end, issue 13 finding 3: a misbehaving metric endpoint never holds a release
or its commands hostage, and what it says reaches history only as printable text.

The local platform for real (controller and CLI as processes, revision processes, the
proxy, SQLite) and, in this test process, a real HTTP server on 127.0.0.1 that
misbehaves: `/drip` sends its headers and then one byte every 0.5 s for a minute
(the provider's timeout is 2 s), `/raw` answers HTTP 500 with NUL, undecodable bytes,
U+FFFD, a bidi override, a CR/LF and the request's Authorization header echoed back.
The web provider's token comes from the controller's environment (`valueFrom.env`)
and must appear nowhere: not in state.db, not in the controller's log.

Every process started here is stopped by its PID (the controller by SIGTERM, which
stops its revisions and the proxy; the fixture kills whatever is left); the server's
threads end when it is closed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rollout.api import release, service
from rollout.platforms.local.proxy import client as proxy_client
from rollout.store import sqlite

ROLLOUT = str(Path(sys.executable).parent / "rollout")
TOKEN = "Bearer e2e-s3cr3t-token-7f3a"
DRIP_EVERY = 0.5
DRIP_FOR = 60.0  # what the endpoint would take; the provider's timeout is 2 s
RAW = b"db down \x00 \xff\xfe \xef\xbf\xbd \xe2\x80\xae \r\nX-Injected: 1 auth="

POLICY = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata: {{name: faulty}}
spec:
  steps: [{{setWeight: 10}}, {{analysis: {{duration: 10m}}}}]
  analysis:
    interval: 2s
    consecutiveErrorLimit: 0
    inconclusiveLimit: 1000
    metrics:
      - name: drip
        provider: {{web: {{url: "{url}/drip", jsonPath: $.v, timeout: 2s}}}}
        thresholds: {{max: 1}}
      - name: raw
        provider:
          web:
            url: "{url}/raw"
            jsonPath: $.v
            timeout: 2s
            headers: {{Authorization: {{valueFrom: {{env: ROLLOUT_E2E_TOKEN}}}}}}
        thresholds: {{max: 1}}
"""

SERVICE = """\
apiVersion: rollout.dev/v1alpha1
kind: Service
metadata: {{name: web}}
spec:
  policy: faulty
  template:
    spec:
      containers:
        - name: app
          command: [{python}, -m, rollout.demo.app]
          env: [{{name: VERSION, value: {version}}}]
          readinessProbe: {{httpGet: {{path: /healthz, port: 8080}}, periodSeconds: 1}}
"""


class Endpoint:
    """The misbehaving metric endpoint: one thread per connection, each bounded."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.drips: list[tuple[float, float | None]] = []  # (opened, closed) per /drip
        self._lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
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
                if request.startswith(b"GET /drip"):
                    self._drip(conn)
                else:
                    auth = b""
                    for line in request.split(b"\r\n"):
                        if line.lower().startswith(b"authorization:"):
                            auth = line.split(b":", 1)[1].strip()
                    body = RAW + auth
                    head = f"HTTP/1.1 500 Oops\r\nContent-Length: {len(body)}\r\n\r\n"
                    conn.sendall(head.encode() + body)
            except OSError:
                pass

    def _drip(self, conn: socket.socket) -> None:
        with self._lock:
            self.drips.append((time.monotonic(), None))
            index = len(self.drips) - 1
        try:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            ends = time.monotonic() + DRIP_FOR
            while not self.stop.is_set() and time.monotonic() < ends:
                conn.sendall(b" ")
                time.sleep(DRIP_EVERY)
        except OSError:
            pass  # the client hung up: its deadline
        finally:
            with self._lock:
                self.drips[index] = (self.drips[index][0], time.monotonic())

    def open_drips(self) -> int:
        with self._lock:
            return sum(closed is None for _, closed in self.drips)

    def closed_drips(self) -> list[float]:
        """How long each finished /drip connection lasted."""
        with self._lock:
            return [closed - opened for opened, closed in self.drips if closed is not None]

    def close(self) -> None:
        self.stop.set()
        self._accept.join(5)
        self._sock.close()
        for thread in self._threads:
            thread.join(DRIP_EVERY * 4)


class Local:
    """A state dir with a local-platform controller process and the CLI in front."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.controller: subprocess.Popen[bytes] | None = None
        self.log = state_dir / "controller.out"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.controller = subprocess.Popen(
                [ROLLOUT, "controller", "--platform", "local", "--metrics-addr", "off",
                 "--state-dir", str(self.state_dir)],
                stdout=out,
                stderr=out,
                env={**os.environ, "ROLLOUT_E2E_TOKEN": TOKEN},
            )  # fmt: skip

    def stop(self) -> None:
        if self.controller is not None and self.controller.poll() is None:
            self.controller.send_signal(signal.SIGTERM)
            self.controller.wait(timeout=30)
        self.controller = None

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [ROLLOUT, *args, "--state-dir", str(self.state_dir)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "ROLLOUT_USER": "e2e"},
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    def apply(self, text: str, name: str) -> None:
        path = self.state_dir / f"{name}.yaml"
        path.write_text(text)
        self.cli("apply", "-f", str(path))

    def read(self) -> tuple[service.Service | None, release.Release | None]:
        try:
            store = sqlite.SqliteStore(self.state_dir / "state.db")
        except Exception:
            return None, None
        try:
            svc = store.get("Service", "default", "web")
            assert isinstance(svc, service.Service)
            rel = None
            if svc.status.current_release:
                found = store.get("Release", "default", svc.status.current_release)
                rel = found if isinstance(found, release.Release) else None
            return svc, rel
        except Exception:
            return None, None
        finally:
            store.close()

    def wait_for(self, predicate: Callable[[], bool], *, within: float, what: str) -> float:
        """Seconds it took until `predicate()`; fails at `within`."""
        started = time.monotonic()
        while not predicate():
            if self.controller is not None:
                assert self.controller.poll() is None, self.log.read_text()[-3000:]
            if time.monotonic() - started > within:
                pytest.fail(f"{what}: not within {within} s\n{self.log.read_text()[-3000:]}")
            time.sleep(0.05)
        return time.monotonic() - started


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Local]:
    env = Local(tmp_path)
    try:
        yield env
    finally:
        env.stop()
        for path in (tmp_path / "run").glob("*.json"):  # nothing may outlive the test
            pid = int(json.loads(path.read_text())["pid"])
            if _alive(pid):
                os.killpg(pid, signal.SIGKILL)
        proxy_client.stop_proxy(tmp_path)


def _reason(rel: release.Release | None, metric: str) -> str:
    if rel is None:
        return ""
    return next((m.reason or "" for m in rel.status.analysis if m.metric == metric), "")


def test_a_dripping_endpoint_neither_delays_abort_nor_leaks_raw_bytes_or_the_token(
    local: Local, endpoint: Endpoint
) -> None:
    local.start()
    local.apply(POLICY.format(url=endpoint.url), "policy")
    local.apply(SERVICE.format(python=sys.executable, version="v1"), "v1")
    local.wait_for(lambda: bool(local.read()[0] and local.read()[0].status.stable_revision),
                   within=60, what="v1 deployed")  # fmt: skip
    local.apply(SERVICE.format(python=sys.executable, version="v2"), "v2")

    # A drip ends at the provider's 2 s timeout (its own deadline, not the runner's
    # backstop), as an Error reading saying so; the server sees the client hang up then
    # (noticed at its next write or the one after).
    late = f"GET {endpoint.url}/drip: no complete answer within 2s"
    local.wait_for(lambda: late in _reason(local.read()[1], "drip"),
                   within=60, what="an Error reading for the dripping endpoint")  # fmt: skip
    local.wait_for(lambda: bool(endpoint.closed_drips()), within=10, what="a drip hung up")
    assert min(endpoint.closed_drips()) < 2.0 + 2 * DRIP_EVERY + 0.5

    # The raw answer reaches status and history only as printable text, token masked.
    _, rel = local.read()
    assert rel is not None
    assert rel.status.phase.value == "Paused"  # consecutiveErrorLimit 0: paused on errors
    raw = _reason(rel, "raw")
    assert "HTTP 500" in raw
    assert "\\x00" in raw
    assert "\\ufffd" in raw
    assert "auth=***" in raw
    texts = [raw, *(h.message for h in rel.status.history), rel.status.message]
    assert all(t.isprintable() for t in texts), texts
    assert any("\\x00" in h.message for h in rel.status.history)  # the pause names it

    # `abort` while a drip reading is in flight: traffic back to stable at once.
    local.wait_for(lambda: endpoint.open_drips() > 0, within=30, what="a drip in flight")
    local.cli("abort", "web")
    took = local.wait_for(
        lambda: (r := local.read()[1]) is not None and r.status.phase.value == "Aborted",
        within=30,
        what="release aborted",
    )
    assert took < 5.0  # was 75 s: the abort waited behind the measurement
    svc, _ = local.read()
    assert svc is not None
    assert [(t.revision_name, t.percent) for t in svc.status.traffic] == [("web-00001", 100)]

    local.stop()
    secret = TOKEN.split()[-1].encode()
    for path in [local.log, *local.state_dir.glob("state.db*")]:
        assert secret not in path.read_bytes(), path
