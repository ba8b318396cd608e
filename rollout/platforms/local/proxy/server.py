"""The local proxy process: one data-plane listener per service, and an admin API.

    python -m rollout.platforms.local.proxy --state-dir D [--admin-port 0]
        [--admin-port-fallback] [--host 127.0.0.1]

At start it reads (or creates) the admin token `<state-dir>/proxy.token` (`auth`).
When ready it writes `<state-dir>/proxy.json` = `{"pid", "admin", "bootId"}`
(atomically: a reader sees the old file or the new one); SIGTERM/SIGINT stop it
cleanly (listeners drained, the file removed if it is still ours). With
`--admin-port-fallback` a busy `--admin-port` is replaced by a free one (a restarted
proxy keeps its admin address when it can, for whoever scrapes its metrics).

The admin API (routes, stats, metrics, health; the token on every write; target URLs
limited to our revisions' run files) is `admin`'s; this module owns the process, its
listeners and the route table they serve.

`bootId` is random per proxy process and `version` counts the route writes (PUT,
DELETE) since it booted: the controller's supervisor reads both to notice a restarted
proxy (empty: routes live in memory) or a table changed by someone else, and applies
the routes again.

Entry point of the proxy process; the only module here that binds sockets. Called
through `python -m rollout.platforms.local.proxy` (`__main__`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import pathlib
import secrets
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import structlog
from aiohttp import web

from rollout import logs
from rollout.platforms.local.proxy import (
    admin,
    auth,
    client,
    forward,
    metrics,
    mirror,
    stats,
    table,
)

__all__ = ["ProxyServer", "loop_factory", "main", "serve", "write_state"]

STATE_FILE = client.STATE_FILE
SWEEP_EVERY_S = 60.0
log = structlog.get_logger(__name__)


def _url_host(host: str) -> str:
    return "127.0.0.1" if host in ("", "0.0.0.0") else host


class PortInUse(Exception):
    pass


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        raise PortInUse(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.setblocking(False)
    return sock


class ProxyServer:
    """Listeners, stats and metrics of one proxy process; `admin_app()` serves them.

    `state_dir` is where the run files of our revisions are (target URLs are checked
    against them); `token` is what every admin write must carry."""

    def __init__(
        self,
        *,
        state_dir: pathlib.Path,
        token: str,
        host: str = "127.0.0.1",
        wall: Callable[[], float] = time.time,
        read_timeout: float = 30.0,
        drain_timeout: float = 30.0,
    ) -> None:
        self.run_dir = pathlib.Path(state_dir) / "run"
        self.token = token
        self.host = host
        self.wall = wall
        self.read_timeout = read_timeout
        self.drain_timeout = drain_timeout
        self.boot_id = secrets.token_hex(8)
        self.version = 0  # route writes since boot
        self.stats = stats.Stats()
        self.metrics = metrics.ProxyMetrics()
        self.listeners: dict[tuple[str, str], forward.Listener] = {}
        self._session: aiohttp.ClientSession | None = None
        self._forwarder: forward.Forwarder | None = None
        self._mirrors: mirror.Mirrors | None = None
        self._lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=1024, limit_per_host=0, keepalive_timeout=30)
        self._session = aiohttp.ClientSession(
            connector=connector, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar()
        )
        self._mirrors = mirror.Mirrors(
            session=self._session, record=self._record, proxy_metrics=self.metrics
        )
        self._forwarder = forward.Forwarder(
            session=self._session,
            record=self._record,
            retried=self.metrics.retried,
            read_timeout=self.read_timeout,
            mirrors=self._mirrors,
        )
        self._spawn(self._sweep_forever())

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(
            *(self._stop_listener(li, wait=True) for li in self.listeners.values()),
            return_exceptions=True,
        )
        self.listeners.clear()
        if self._forwarder is not None:
            self._forwarder.pool.close()  # the upstream connections
        if self._mirrors is not None:
            await self._mirrors.close()
        if self._session is not None:
            await self._session.close()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY_S)
            self.stats.sweep(self.wall())

    def _record(self, key: tuple[str, str, str], code: str, latency: float | None) -> None:
        if key[2]:  # requests no revision took are in the metrics only
            self.stats.record(key, now=self.wall(), code=code, latency=latency)
        self.metrics.record(key, code, latency)

    # -- listeners ---------------------------------------------------------------

    async def _start_listener(self, listener: forward.Listener, sock: socket.socket) -> None:
        forwarder = self._forwarder
        assert forwarder is not None, "start() first"

        async def handler(request: web.BaseRequest) -> web.StreamResponse:
            return await forwarder.handle(listener, request)

        runner = web.ServerRunner(
            web.Server(handler, access_log=None),
            handle_signals=False,
            shutdown_timeout=self.drain_timeout,
        )
        await runner.setup()
        site = web.SockSite(runner, sock)
        await site.start()
        listener.runner, listener.site = runner, site

    async def _stop_listener(self, listener: forward.Listener, *, wait: bool) -> None:
        """Close the listening socket now; drain in-flight requests (in the background
        unless `wait`)."""
        if listener.site is not None:
            await listener.site.stop()
        if listener.runner is not None:
            if wait:
                await listener.runner.cleanup()
            else:
                self._spawn(listener.runner.cleanup())

    def answer(self, listener: forward.Listener) -> dict[str, Any]:
        """What the admin API says of a route."""
        return {
            "namespace": listener.namespace,
            "service": listener.service,
            "port": listener.port,
            "url": f"http://{_url_host(self.host)}:{listener.port}",
            "targets": [t.as_json() for t in listener.table.targets],
            **listener.table.rules.as_json(),  # headerRoutes, mirrors, sessionAffinity
        }

    async def put_route(self, namespace: str, service: str, body: table.RouteBody) -> web.Response:
        key = (namespace, service)
        async with self._lock:
            current = self.listeners.get(key)
            if current is not None and body.port in (None, current.port):
                current.table = body.table  # the atomic swap
                status = 200
                listener = current
            else:
                try:
                    sock = _bind(self.host, body.port or 0)
                except PortInUse as exc:
                    return admin.error(409, f"{namespace}/{service}: {exc}")
                port = sock.getsockname()[1]
                listener = forward.Listener(namespace, service, port, body.table)
                await self._start_listener(listener, sock)
                self.listeners[key] = listener
                if current is not None:  # moved to another port
                    await self._stop_listener(current, wait=False)
                status = 201 if current is None else 200
            self.version += 1
        log.info(
            "route applied",
            namespace=namespace,
            service=service,
            port=listener.port,
            split={t.revision: t.percent for t in body.table.targets},
            ready=[t.revision for t in body.table.targets if t.ready],
            header_routes={r.name: r.revision_name for r in body.table.rules.header_routes},
            mirrors={
                m.name: f"{m.percent}% to {m.revision_name}" for m in body.table.rules.mirrors
            },
            sticky=body.table.rules.sticky.revision_name if body.table.rules.sticky else None,
        )
        return web.json_response(self.answer(listener), status=status)

    async def delete_route(self, namespace: str, service: str) -> forward.Listener | None:
        """Stop the route's listener (in-flight requests finish in the background); the
        listener, or None when there is none."""
        async with self._lock:
            listener = self.listeners.pop((namespace, service), None)
            if listener is None:
                return None
            await self._stop_listener(listener, wait=False)
            self.version += 1
        log.info("route removed", namespace=namespace, service=service, port=listener.port)
        return listener

    def admin_app(self) -> web.Application:
        """The admin API (`admin`) of this proxy."""
        return admin.AdminApi(self).app()


def write_state(state_dir: pathlib.Path, admin_url: str, boot_id: str) -> pathlib.Path:
    """Write proxy.json atomically (temp file + rename)."""
    path = state_dir / STATE_FILE
    tmp = path.with_name(f".{STATE_FILE}.{os.getpid()}")
    state = {"pid": os.getpid(), "admin": admin_url, "bootId": boot_id}
    tmp.write_text(json.dumps(state) + "\n")
    tmp.replace(path)
    return path


def _remove_state_if_ours(path: pathlib.Path) -> None:
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()


async def serve(
    state_dir: pathlib.Path,
    *,
    host: str,
    admin_port: int,
    admin_port_fallback: bool = False,
    read_timeout: float,
) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    token = auth.load_or_create(state_dir)
    try:
        sock = _bind(host, admin_port)
    except PortInUse:
        if not admin_port_fallback or not admin_port:
            raise
        sock = _bind(host, 0)
    proxy = ProxyServer(state_dir=state_dir, token=token, host=host, read_timeout=read_timeout)
    await proxy.start()
    runner = web.AppRunner(proxy.admin_app(), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.SockSite(runner, sock)
    await site.start()
    admin = f"http://{_url_host(host)}:{sock.getsockname()[1]}"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    path = write_state(state_dir, admin, proxy.boot_id)
    log.info("proxy ready", admin=admin, pid=os.getpid(), boot_id=proxy.boot_id, state=str(path))
    try:
        await stop.wait()
    finally:
        log.info("proxy stopping", routes=len(proxy.listeners))
        _remove_state_if_ours(path)
        await proxy.close()
        await runner.cleanup()


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (a libuv loop: the proxy's socket I/O
    and callbacks in C, about a fifth of its CPU per request), else asyncio's."""
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m rollout.platforms.local.proxy",
        description="The rollout local proxy: splits each service's traffic by weight.",
    )
    parser.add_argument("--state-dir", type=pathlib.Path, required=True)
    parser.add_argument("--admin-port", type=int, default=0, help="0: a free port")
    parser.add_argument(
        "--admin-port-fallback",
        action="store_true",
        help="a free port when --admin-port is taken (default: fail)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address of every listener")
    parser.add_argument(
        "--upstream-timeout", type=float, default=30.0, help="seconds between upstream reads"
    )
    args = parser.parse_args(argv)
    logs.configure()
    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(
                serve(
                    args.state_dir,
                    host=args.host,
                    admin_port=args.admin_port,
                    admin_port_fallback=args.admin_port_fallback,
                    read_timeout=args.upstream_timeout,
                )
            )
    except (auth.TokenError, PortInUse, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
