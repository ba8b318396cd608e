"""The end-to-end harness of the local platform: a state dir with a real controller
process (`rollout controller --platform local`) and the CLI in front (`Local`), load
through the proxy from the real load generator (`Load`), and a prober that times each
request (`Prober`: when traffic stopped and came back).

Every process a test starts is stopped by its PID: the controller by a signal
(SIGTERM stops its revisions and the proxy), and `cleanup` kills whatever a failed
test left (revision processes named by run files, the proxy named by proxy.json).
Waits are on conditions with deadlines.

Used by `test_local_platform.py` and `test_local_faults.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rollout.api import release, route, service
from rollout.platforms.local import loadgen
from rollout.platforms.local.proxy import client as proxy_client
from rollout.store import sqlite

ROLLOUT = str(Path(sys.executable).parent / "rollout")

SERVICE = """\
apiVersion: rollout.dev/v1alpha1
kind: Service
metadata: {{name: web}}
spec:
  policy: {policy}
  template:
    spec:
      containers:
        - name: app
          command: [{python}, -m, rollout.demo.app]
          env:
            - {{name: VERSION, value: {version}}}
            - {{name: ERROR_RATE, value: "{error_rate}"}}
          readinessProbe: {{httpGet: {{path: /healthz, port: 8080}}, periodSeconds: 1}}
"""

HOLD = """\
apiVersion: rollout.dev/v1alpha1
kind: RolloutPolicy
metadata: {name: hold}
spec:
  steps: [{setWeight: 50}, {pause: {}}]
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Local:
    """A state dir with a local-platform controller process and the CLI in front."""

    def __init__(self, state_dir: Path, *, cwd: Path | None = None) -> None:
        self.state_dir = state_dir
        self.cwd = cwd  # where the controller and the CLI run (None: the test's own)
        self.controller: subprocess.Popen[bytes] | None = None
        self.log = state_dir / "controller.out"

    def start(self, *extra: str) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            self.controller = subprocess.Popen(
                [ROLLOUT, "controller", "--platform", "local", "--metrics-addr", "off",
                 "--state-dir", str(self.state_dir), *extra],
                stdout=out,
                stderr=out,
                cwd=self.cwd,
            )  # fmt: skip
        return self.controller

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.controller is not None and self.controller.poll() is None:
            self.controller.send_signal(sig)
            self.controller.wait(timeout=30)
        self.controller = None

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [ROLLOUT, *args, "--state-dir", str(self.state_dir)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "ROLLOUT_USER": "e2e"},
            cwd=self.cwd,
        )
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def apply(self, text: str, name: str) -> None:
        path = self.state_dir / f"{name}.yaml"
        path.write_text(text)
        self.cli("apply", "-f", str(path))

    def service(self, policy: str, version: str, error_rate: float = 0.0) -> None:
        text = SERVICE.format(
            policy=policy, version=version, error_rate=error_rate, python=sys.executable
        )
        self.apply(text, f"web-{version}")

    def read(self) -> tuple[service.Service | None, release.Release | None]:
        store = sqlite.SqliteStore(self.state_dir / "state.db")
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

    def route(self) -> route.Route | None:
        store = sqlite.SqliteStore(self.state_dir / "state.db")
        try:
            rt = store.get("Route", "default", "web")
            return rt if isinstance(rt, route.Route) else None
        except Exception:
            return None
        finally:
            store.close()

    def phase(self) -> str | None:
        _, rel = self.read()
        return rel.status.phase.value if rel is not None else None

    def wait_for(self, predicate: Callable[[], bool], *, within: float, what: str) -> None:
        deadline = time.monotonic() + within
        while not predicate():
            if self.controller is not None:
                assert self.controller.poll() is None, self.log.read_text()[-3000:]
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not within {within} s\n{self.log.read_text()[-3000:]}")
            time.sleep(0.1)

    def wait_serving(self, *, within: float = 60) -> None:
        """Wait until the Service has a stable revision *and* the proxy routes its
        traffic to it, ready: `status.stableRevision` is what the Route must carry,
        set a moment before the router has put it in the proxy (a load started in
        between meets the proxy's 502 "no revision is routed")."""

        def serving() -> bool:
            svc, _ = self.read()
            if svc is None or not svc.status.stable_revision:
                return False
            try:
                table = self.proxy_table()
            except (AssertionError, proxy_client.ProxyError):
                return False
            return table is not None and any(
                t.revision == svc.status.stable_revision and t.ready and t.percent > 0
                for t in table.targets
            )

        self.wait_for(serving, within=within, what="the stable revision served by the proxy")

    def url(self) -> str:
        svc, _ = self.read()
        assert svc is not None
        assert svc.status.url, "the service has no URL yet"
        return svc.status.url

    def run_files(self) -> dict[str, dict[str, Any]]:
        """The runtime's run files; one removed between the listing and the read (its
        process just stopped, e.g. scaled down) is not there."""
        found: dict[str, dict[str, Any]] = {}
        for path in (self.state_dir / "run").glob("*.json"):
            try:
                found[path.stem] = json.loads(path.read_text())
            except FileNotFoundError:
                continue
        return found

    def proxy_pid(self) -> int:
        state = proxy_client.read_state(self.state_dir)
        assert state is not None
        return state[0]

    def proxy_table(self) -> proxy_client.Route | None:
        """The route as the proxy holds it (a read: no token needed)."""
        state = proxy_client.read_state(self.state_dir)
        assert state is not None
        return proxy_client.ProxyClient(state[1]).get_route("default", "web")

    def cleanup(self) -> None:
        """Stop the controller (SIGTERM) and kill whatever is left, by PID."""
        self.stop()
        for info in self.run_files().values():  # nothing may outlive the test
            if alive(int(info["pid"])):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(int(info["pid"]), signal.SIGKILL)
        proxy_client.stop_proxy(self.state_dir)


class Load:
    """The load generator in a thread, until stopped."""

    def __init__(self, url: str, rps: float = 40, headers: dict[str, str] | None = None) -> None:
        self.result: loadgen.LoadResult | None = None
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        started = threading.Event()

        def drive() -> None:
            self._loop = asyncio.new_event_loop()
            self._stop = asyncio.Event()
            started.set()
            self.result = self._loop.run_until_complete(
                loadgen.run_open(url, rps=rps, duration=600, stop=self._stop, headers=headers)
            )
            self._loop.close()

        self.thread = threading.Thread(target=drive, daemon=True)
        self.thread.start()
        started.wait(10)

    def stop(self) -> loadgen.LoadResult:
        assert self._loop is not None
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(timeout=30)
        assert self.result is not None
        return self.result


class Prober:
    """One GET at a time, every `every` seconds, each with its time and outcome:
    enough resolution to time an outage (the load generator only counts)."""

    def __init__(self, url: str, every: float = 0.02) -> None:
        self.url = url
        self.every = every
        self.outcomes: list[tuple[float, bool]] = []  # (time.monotonic at the answer, 2xx)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    ok = 200 <= response.status < 300
            except (urllib.error.URLError, OSError):
                ok = False
            self.outcomes.append((time.monotonic(), ok))
            self._stop.wait(self.every)

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(10)

    def back_after(self, since: float) -> float | None:
        """Seconds from `since` to the first success after the first failure after
        `since` (None: no failure, or no success yet)."""
        after = [(t, ok) for t, ok in self.outcomes if t >= since]
        first_failure = next((i for i, (_, ok) in enumerate(after) if not ok), None)
        if first_failure is None:
            return None
        back = next((t for t, ok in after[first_failure:] if ok), None)
        return None if back is None else back - since
