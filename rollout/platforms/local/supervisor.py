"""The proxy supervisor: keeps the state dir's proxy running, as the runtime keeps a
revision running, and tells the routes when the proxy is not what they last applied.

`ProxySupervisor(state_dir)` adopts the running proxy or starts one
(`client.ensure_proxy`). `start(router=…, wake=…)` then runs a thread that every
`interval` seconds reads the proxy's `/healthz` (`pid`, `bootId`, `version`):

- **down** — the proxy's process is gone, or `/healthz` failed `failures_to_restart`
  times in a row (a hung proxy is killed first): every route is woken at once (they
  report `ProxyDown`: Not Ready) and the proxy is restarted, on its old admin port when
  it is free. The first restart is immediate; a proxy that dies again is restarted
  after a backoff (`backoff` doubling up to `max_backoff`; back to `backoff` once it
  stayed up `stable_after` seconds). After a restart every route is woken again, so
  the controller applies them all at once (a restarted proxy is empty).
- **another boot** (a `bootId` this supervisor did not start or adopt: someone
  restarted the proxy) — every route is woken.
- **another version** (route writes since the last look) — the proxy's tables are read
  and the routes whose table is not the one the router last put (`LocalRouter.stale`)
  are woken: a table changed by someone else is set right within about `interval`,
  not at the 5-minute resync. The router's own writes change the version too; they
  match what it put, and wake nothing.

`restart_gaps` keeps how long each outage lasted, from the first failed look to the
restarted proxy's first healthy answer (the routes are applied right after).

`client()` is the current admin client (its address may change with a restart). The
supervisor never reconciles anything itself: it wakes the controller (`wake`).
`stop()` ends the thread (not the proxy: `LocalPlatform.stop` does).

Called by the local platform (`rollout.platforms.local.start`). Time: `time.monotonic`.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import structlog

from rollout.platforms.local import router as local_router
from rollout.platforms.local.proxy import client as proxy_client

__all__ = ["ProxySupervisor"]

log = structlog.get_logger(__name__)

Wake = Callable[[str, str], None]  # (namespace, route name)


class ProxySupervisor:
    def __init__(
        self,
        state_dir: Path,
        *,
        interval: float = 0.5,
        timeout: float = 1.0,
        failures_to_restart: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 10.0,
        stable_after: float = 30.0,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.interval = interval
        self.timeout = timeout
        self.failures_to_restart = failures_to_restart
        self.initial_backoff = backoff
        self.max_backoff = max_backoff
        self.stable_after = stable_after
        self._client = proxy_client.ensure_proxy(self.state_dir)
        self.started_proxy = self._client.started  # False: adopted from an earlier controller
        health = self._client.health()
        self._boot_id, self._version = health.boot_id, health.version
        self.restarts = 0
        self.restart_gaps: list[float] = []
        self._failures = 0
        self._down_since: float | None = None
        self._backoff = backoff
        self._restart_at = 0.0  # no restart before this (monotonic)
        self._up_since = time.monotonic()
        self._router: local_router.LocalRouter | None = None
        self._wake: Wake | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def client(self) -> proxy_client.ProxyClient:
        """The admin client of the current proxy."""
        return self._client

    def start(
        self, *, router: local_router.LocalRouter, wake: Wake | None, thread: bool = True
    ) -> None:
        """Watch the proxy in a thread (`thread=False`: the caller calls `tick`, as tests
        do); tell `wake` which routes to apply again."""
        self._router, self._wake = router, wake
        if thread:
            self._thread = threading.Thread(target=self._run, name="rollout-proxy-supervisor")
            self._thread.daemon = True
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    # --- the loop ---------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception:  # never let the supervisor die: look again
                log.exception("proxy supervisor error")

    def tick(self) -> None:
        """One look at the proxy (see the module docstring)."""
        client = self._client
        try:
            health = client.health(timeout=self.timeout)
        except proxy_client.ProxyError as exc:
            self._failed(client, str(exc))
            return
        self._failures = 0
        now = time.monotonic()
        if now - self._up_since >= self.stable_after:
            self._backoff = self.initial_backoff
        if health.boot_id != self._boot_id:
            log.warning("the proxy was restarted by someone else", pid=health.pid)
            self._boot_id, self._version = health.boot_id, health.version
            self._wake_all()
            return
        if health.version != self._version:
            self._version = health.version
            if self._router is not None:
                for key in self._router.stale(client.routes()):
                    log.warning(
                        "proxy table differs; applying it again", route=f"{key[0]}/{key[1]}"
                    )
                    self._wake_one(key)

    def _failed(self, client: proxy_client.ProxyClient, why: str) -> None:
        now = time.monotonic()
        self._failures += 1
        dead = client.pid is not None and not proxy_client.alive(client.pid)
        if not dead and self._failures < self.failures_to_restart:
            return
        if self._down_since is None:
            self._down_since = now - (self._failures - 1) * self.interval
            log.warning("proxy down", why=why, pid=client.pid, exited=dead)
            self._wake_all()  # they report ProxyDown until it is back
        if now < self._restart_at:
            return
        if not dead and client.pid is not None:  # alive but not answering: hung
            proxy_client.kill_proxy(client.pid)
        try:
            new = proxy_client.ensure_proxy(self.state_dir, admin_port=_port_in(client.admin_url))
            health = new.health(timeout=self.timeout)
        except proxy_client.ProxyError as exc:
            log.error("proxy restart failed", error=str(exc), retry_in=self._backoff)
            self._schedule_next(now)
            return
        gap = time.monotonic() - self._down_since
        self._client = new
        self._boot_id, self._version = health.boot_id, health.version
        self._failures, self._down_since = 0, None
        self._up_since = time.monotonic()
        self.restarts += 1
        self.restart_gaps.append(gap)
        self._schedule_next(self._up_since)  # the backoff counts from when it is back
        log.info("proxy restarted", pid=new.pid, admin=new.admin_url, gap_s=round(gap, 3))
        self._wake_all()

    def _schedule_next(self, now: float) -> None:
        self._restart_at = now + self._backoff
        self._backoff = min(self._backoff * 2, self.max_backoff)

    def _wake_all(self) -> None:
        if self._router is not None:
            for key in self._router.routes():
                self._wake_one(key)

    def _wake_one(self, key: tuple[str, str]) -> None:
        if self._wake is None:
            return
        try:
            self._wake(*key)
        except Exception:
            log.exception("wake failed", route=f"{key[0]}/{key[1]}")


def _port_in(url: str) -> int | None:
    try:
        return urllib.parse.urlsplit(url).port
    except ValueError:
        return None
