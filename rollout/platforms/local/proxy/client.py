"""Talking to the proxy process: `ProxyClient` (its admin API, synchronous, stdlib
urllib, short timeouts), and `ensure_proxy` / `stop_proxy` (its process).

`ensure_proxy(state_dir)` adopts the proxy named by `<state-dir>/proxy.json` when its
pid is alive and its `/healthz` answers; otherwise it starts one, detached in its own
session (`start_new_session=True`: a controller killed with SIGKILL does not take the
data plane down with it; the next controller adopts it), logging to
`<state-dir>/logs/proxy.log`, and waits for it to be healthy. A file lock
(`proxy.lock`) makes two callers at once start one proxy, not two. The client it
returns carries the admin token (`auth`, read from `<state-dir>/proxy.token`), the
proxy's pid, and whether this call started it (`started`: what a controller that
fails at start-up must stop again). `admin_port` asks a started proxy for that admin
port (a free one when it is taken): a restarted proxy keeps its admin address. A
running proxy without a token file (from a version before admin tokens) is stopped
and replaced.

Every failure is a `ProxyError` with one clear line.

Called by the local platform (the supervisor, the router, the metric provider), the
tests and the benchmarks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from typing import Any

from rollout.api import matching
from rollout.platforms.local.proxy import auth

__all__ = [
    "LOG_FILE",
    "STATE_FILE",
    "Health",
    "ProxyClient",
    "ProxyError",
    "Route",
    "RouteTarget",
    "StatsWindow",
    "alive",
    "ensure_proxy",
    "kill_proxy",
    "read_state",
    "stop_proxy",
]

STATE_FILE = "proxy.json"
LOCK_FILE = "proxy.lock"
LOG_FILE = "logs/proxy.log"
MODULE = "rollout.platforms.local.proxy"


class ProxyError(Exception):
    """The proxy is unreachable, refused a request, or would not start."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclasses.dataclass(frozen=True)
class RouteTarget:
    revision: str
    url: str | None  # None: not ready (no traffic)
    percent: int
    tag: str | None = None
    ready: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "url": self.url,
            "percent": self.percent,
            "tag": self.tag,
        }


@dataclasses.dataclass(frozen=True)
class Route:
    """A route as the proxy applied it: its split and its request rules (read back)."""

    namespace: str
    service: str
    port: int
    url: str
    targets: tuple[RouteTarget, ...]
    header_routes: tuple[matching.HeaderRoute, ...] = ()
    mirrors: tuple[matching.Mirror, ...] = ()
    session_affinity: matching.StickySession | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Route:
        sticky = data.get("sessionAffinity")
        return cls(
            namespace=data["namespace"],
            service=data["service"],
            port=data["port"],
            url=data["url"],
            targets=tuple(RouteTarget(**t) for t in data["targets"]),
            # absent: a proxy from before request rules, which holds none
            header_routes=tuple(
                matching.HeaderRoute.model_validate(r) for r in data.get("headerRoutes") or ()
            ),
            mirrors=tuple(matching.Mirror.model_validate(m) for m in data.get("mirrors") or ()),
            session_affinity=(
                matching.StickySession.model_validate(sticky) if sticky is not None else None
            ),
        )


@dataclasses.dataclass(frozen=True)
class StatsWindow:
    """A revision's requests over the whole seconds in [since, until)."""

    requests: int
    errors: int
    codes: dict[str, int]
    latency: dict[str, float] | None  # p50, p90, p99 in seconds; None without requests
    samples: tuple[float, ...]
    since: float
    until: float
    # asked with slower_than: requests with a latency, those slower, the bound used
    timed: int | None = None
    slow: int | None = None
    slower_than: float | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StatsWindow:
        return cls(
            requests=data["requests"],
            errors=data["errors"],
            codes=dict(data["codes"]),
            latency=data["latency"],
            samples=tuple(data["samples"]),
            since=data["since"],
            until=data["until"],
            timed=data.get("timed"),
            slow=data.get("slow"),
            slower_than=data.get("slowerThan"),
        )


@dataclasses.dataclass(frozen=True)
class Health:
    """`GET /healthz`: which proxy process answers, and how many route writes it has
    taken since it booted."""

    pid: int
    boot_id: str
    version: int
    routes: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Health:
        return cls(
            pid=int(data["pid"]),
            boot_id=str(data["bootId"]),
            version=int(data["version"]),
            routes=int(data["routes"]),
        )


class ProxyClient:
    """The proxy's admin API. Every method raises `ProxyError` on failure. Writes
    carry `token` (`Authorization: Bearer …`); without one the proxy answers 401."""

    def __init__(
        self,
        admin_url: str,
        *,
        token: str | None = None,
        timeout: float = 5.0,
        pid: int | None = None,
        started: bool = False,
    ) -> None:
        self.admin_url = admin_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.pid = pid
        self.started = started  # this process started the proxy (ensure_proxy)

    def __repr__(self) -> str:
        return f"ProxyClient({self.admin_url!r}, pid={self.pid})"

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        if self.token is not None and method not in ("GET", "HEAD"):
            headers["Authorization"] = auth.bearer(self.token)
        req = urllib.request.Request(
            self.admin_url + path, data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            with contextlib.suppress(ValueError, AttributeError):
                detail = json.loads(detail)["error"]
            raise ProxyError(
                f"proxy {method} {path}: {exc.code}: {detail}", status=exc.code
            ) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ProxyError(f"proxy at {self.admin_url} unreachable: {reason}") from exc

    @staticmethod
    def _route_path(namespace: str, service: str) -> str:
        quote = urllib.parse.quote
        return f"/v1/routes/{quote(namespace, safe='')}/{quote(service, safe='')}"

    def put_route(
        self,
        namespace: str,
        service: str,
        *,
        port: int | None,
        targets: Sequence[RouteTarget],
        header_routes: Sequence[matching.HeaderRoute] = (),
        mirrors: Sequence[matching.Mirror] = (),
        session_affinity: matching.StickySession | None = None,
    ) -> Route:
        """Set a service's table. The request rules are sent only when there are some:
        a proxy from before them takes a plain split."""
        body: dict[str, Any] = {"port": port, "targets": [t.as_json() for t in targets]}
        if header_routes:
            body["headerRoutes"] = [_wire(r) for r in header_routes]
        if mirrors:
            body["mirrors"] = [_wire(m) for m in mirrors]
        if session_affinity is not None:
            body["sessionAffinity"] = _wire(session_affinity)
        return Route.from_json(self._call("PUT", self._route_path(namespace, service), body))

    def get_route(self, namespace: str, service: str) -> Route | None:
        try:
            return Route.from_json(self._call("GET", self._route_path(namespace, service)))
        except ProxyError as exc:
            if exc.status == 404:
                return None
            raise

    def routes(self) -> list[Route]:
        return [Route.from_json(r) for r in self._call("GET", "/v1/routes")["routes"]]

    def delete_route(self, namespace: str, service: str) -> bool:
        """Stop a service's listener; False when there was none."""
        try:
            self._call("DELETE", self._route_path(namespace, service))
        except ProxyError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def stats(
        self,
        namespace: str,
        service: str,
        revision: str,
        *,
        since: float,
        until: float,
        samples: int = 0,
        slower_than: float | None = None,
    ) -> StatsWindow:
        quote = urllib.parse.quote
        asked: dict[str, float] = {"since": since, "until": until, "samples": samples}
        if slower_than is not None:
            asked["slowerThan"] = slower_than
        query = urllib.parse.urlencode(asked)
        path = f"/v1/stats/{quote(namespace, safe='')}/{quote(service, safe='')}"
        return StatsWindow.from_json(
            self._call("GET", f"{path}/{quote(revision, safe='')}?{query}")
        )

    def metrics(self) -> str:
        try:
            with urllib.request.urlopen(self.admin_url + "/metrics", timeout=self.timeout) as r:
                return str(r.read().decode())
        except (urllib.error.URLError, OSError) as exc:
            raise ProxyError(f"proxy at {self.admin_url} unreachable: {exc}") from exc

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.admin_url + "/healthz", timeout=self.timeout) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def health(self, *, timeout: float | None = None) -> Health:
        """`GET /healthz`; `ProxyError` when it does not answer as a proxy does."""
        url = self.admin_url + "/healthz"
        try:
            with urllib.request.urlopen(url, timeout=timeout or self.timeout) as r:
                return Health.from_json(json.loads(r.read()))
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ProxyError(f"proxy at {self.admin_url} unreachable: {reason}") from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise ProxyError(f"proxy at {self.admin_url}: not a proxy's /healthz ({exc})") from exc


def _wire(model: matching.HeaderRoute | matching.Mirror | matching.StickySession) -> Any:
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


# -- the process -----------------------------------------------------------------

_started: dict[int, subprocess.Popen[bytes]] = {}  # children of this process, to reap


def read_state(state_dir: pathlib.Path) -> tuple[int, str] | None:
    """(pid, admin URL) from proxy.json, or None when it is missing or unreadable."""
    try:
        data = json.loads((state_dir / STATE_FILE).read_text())
        return int(data["pid"]), str(data["admin"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def alive(pid: int) -> bool:
    """Whether `pid` is a running proxy process (a reused pid is not)."""
    return _alive(pid)


def kill_proxy(pid: int, *, timeout: float = 5.0) -> None:
    """SIGKILL a proxy that no longer answers (hung) and wait until it is gone; nothing
    when `pid` is not a running proxy."""
    if not _alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _wait_gone(pid, time.monotonic() + timeout)
    _started.pop(pid, None)


def _alive(pid: int) -> bool:
    child = _started.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = pathlib.Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():  # a reused pid is not our proxy
        with contextlib.suppress(OSError):
            return MODULE.encode() in cmdline.read_bytes()
    return True


@contextlib.contextmanager
def _locked(state_dir: pathlib.Path) -> Iterator[None]:
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / LOCK_FILE, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_proxy(
    state_dir: pathlib.Path, *, timeout: float = 15.0, admin_port: int | None = None
) -> ProxyClient:
    """The running proxy of `state_dir`, adopted or started (see the module docstring)."""
    state_dir = pathlib.Path(state_dir)
    with _locked(state_dir):
        state = read_state(state_dir)
        if state is not None and _alive(state[0]):
            client = ProxyClient(state[1], pid=state[0])
            if client.healthy():
                if (state_dir / auth.TOKEN_FILE).exists():
                    return _with_token(state_dir, client)
                # A proxy from before admin tokens: it would take writes from anyone.
                _terminate(state[0], timeout=10.0)
        return _with_token(state_dir, _start(state_dir, timeout=timeout, admin_port=admin_port))


def _with_token(state_dir: pathlib.Path, client: ProxyClient) -> ProxyClient:
    try:
        client.token = auth.read(state_dir)
    except auth.TokenError as exc:
        raise ProxyError(str(exc)) from exc
    return client


def _start(state_dir: pathlib.Path, *, timeout: float, admin_port: int | None) -> ProxyClient:
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    log_path = state_dir / LOG_FILE
    log_path.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", MODULE, "--state-dir", str(state_dir)]
    if admin_port:
        argv += ["--admin-port", str(admin_port), "--admin-port-fallback"]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    _started[proc.pid] = proc
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            del _started[proc.pid]
            raise ProxyError(
                f"the proxy exited with code {proc.returncode} at start;"
                f" see {log_path}: {_tail(log_path)}"
            )
        state = read_state(state_dir)
        if state is not None and state[0] == proc.pid:
            client = ProxyClient(state[1], pid=proc.pid, started=True)
            if client.healthy():
                return client
        time.sleep(0.05)
    _terminate(proc.pid, timeout=5.0)
    raise ProxyError(f"the proxy did not become healthy within {timeout:.0f} s; see {log_path}")


def _tail(path: pathlib.Path, lines: int = 3) -> str:
    with contextlib.suppress(OSError):
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    return ""


def _wait_gone(pid: int, deadline: float) -> bool:
    child = _started.get(pid)
    while time.monotonic() < deadline:
        if child is not None:
            try:
                child.wait(timeout=max(deadline - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired:
                return False
            return True
        if not _alive(pid):
            return True
        time.sleep(0.02)
    return not _alive(pid)


def _terminate(pid: int, *, timeout: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _wait_gone(pid, time.monotonic() + timeout):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, time.monotonic() + 5.0)
    _started.pop(pid, None)


def stop_proxy(state_dir: pathlib.Path, *, timeout: float = 10.0) -> bool:
    """Stop the proxy of `state_dir` (SIGTERM, then SIGKILL after `timeout`); False when
    none was running."""
    state_dir = pathlib.Path(state_dir)
    with _locked(state_dir):
        state = read_state(state_dir)
        if state is None or not _alive(state[0]):
            (state_dir / STATE_FILE).unlink(missing_ok=True)
            return False
        _terminate(state[0], timeout=timeout)
        (state_dir / STATE_FILE).unlink(missing_ok=True)
        return True
