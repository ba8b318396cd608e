"""The proxy's admin API: HTTP routes onto a `server.ProxyServer`, the token on every
write, and the check that target URLs are our revisions'.

Admin API (JSON; errors are `{"error": "<one clear line>"}` with 400/401/404/409):

    PUT    /v1/routes/{namespace}/{service}   {"port": int|null, "targets": [{"revision",
           "url"|null, "percent", "tag"|null}], "headerRoutes"?, "mirrors"?,
           "sessionAffinity"?} → {"namespace", "service", "port", "url", "targets":
           [{…, "ready"}], "headerRoutes", "mirrors", "sessionAffinity"} (the request
           rules: `rules`); listens on `port` (null or 0: a free port, kept
           for later PUTs; another port: moves the listener) and swaps the table
    GET    /v1/routes/{namespace}/{service}   the same answer, or 404
    DELETE /v1/routes/{namespace}/{service}   stops the listener (in-flight requests
           finish); 404 when there is none
    GET    /v1/routes                         {"routes": [answer, …]}
    GET    /v1/stats/{namespace}/{service}/{revision}?since=&until=&samples=[&slowerThan=]
           see `stats.Stats.query`; defaults: until = the end of the current second,
           since = until - 60, samples = 0
    GET    /metrics                           Prometheus exposition (`metrics`)
    GET    /healthz                           {"status": "ok", "pid", "bootId", "version",
                                              "routes"}

Locked down:
- Every write (any method but GET and HEAD) needs `Authorization: Bearer <token>`;
  without it: 401. Reads stay open to local users: they show splits and request
  counts, no secret, and Prometheus must scrape `/metrics` without credentials; the
  revision ports they reveal are reachable on 127.0.0.1 anyway. Everything binds
  127.0.0.1 by default.
- A target URL must be `http://127.0.0.1:PORT` where PORT is the port of that revision
  in the state dir's run files (`<state-dir>/run/<namespace>.<revision>.json`, written
  by the local runtime, naming a live process); any other URL: 400. So even a holder
  of the token can only point a service at our own revisions.

This module parses and answers requests only; the listeners, the stats and the route
version are the `ProxyServer`'s. Called by `ProxyServer.admin_app()`.
"""

from __future__ import annotations

import math
import os
import pathlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from rollout.platforms.local import processes
from rollout.platforms.local.proxy import auth, metrics, table

if TYPE_CHECKING:
    from rollout.platforms.local.proxy import server

__all__ = ["AdminApi", "error", "not_ours"]


def error(status: int, message: str) -> web.Response:
    """An admin error answer: `{"error": message}`."""
    return web.json_response({"error": message}, status=status)


def not_ours(run_dir: pathlib.Path, namespace: str, body: table.RouteBody) -> list[str]:
    """Targets whose URL is not where that revision of ours runs (see the module
    docstring): one problem each."""
    found = []
    for i, t in enumerate(body.table.targets):
        if t.url is None:
            continue
        path = run_dir / f"{namespace}.{t.revision}.json"
        record = processes.read_run_file(path)
        port = table.port_of(t.url)
        live = record is not None and processes.proc_start(record.pid) == record.proc_start
        if record is None or not live or record.port != port:
            found.append(
                f"targets[{i}].url: port {port} is not where revision {t.revision} runs"
                f" ({path} names no live process on it)"
            )
    return found


class AdminApi:
    """The admin handlers of one proxy; `app()` is the aiohttp application."""

    def __init__(self, proxy: server.ProxyServer) -> None:
        self.proxy = proxy

    async def _put(self, request: web.Request) -> web.Response:
        namespace, service = request.match_info["namespace"], request.match_info["service"]
        for what, name in (("namespace", namespace), ("service", service)):
            if (problem := table.name_problem(name)) is not None:
                return error(400, f"{what} {name!r}: {problem}")
        try:
            raw = await request.json()
        except ValueError as exc:
            return error(400, f"body: not JSON ({exc})")
        try:
            body = table.parse_route(raw)
        except table.InvalidRoute as exc:
            return error(400, str(exc))
        if problems := not_ours(self.proxy.run_dir, namespace, body):
            return error(400, "; ".join(problems))
        return await self.proxy.put_route(namespace, service, body)

    async def _get(self, request: web.Request) -> web.Response:
        key = (request.match_info["namespace"], request.match_info["service"])
        listener = self.proxy.listeners.get(key)
        if listener is None:
            return error(404, f"no route for {key[0]}/{key[1]}")
        return web.json_response(self.proxy.answer(listener))

    async def _list(self, request: web.Request) -> web.Response:
        answers = [self.proxy.answer(li) for li in self.proxy.listeners.values()]
        return web.json_response({"routes": answers})

    async def _delete(self, request: web.Request) -> web.Response:
        key = (request.match_info["namespace"], request.match_info["service"])
        listener = await self.proxy.delete_route(*key)
        if listener is None:
            return error(404, f"no route for {key[0]}/{key[1]}")
        return web.json_response({"deleted": f"{key[0]}/{key[1]}", "port": listener.port})

    async def _stats(self, request: web.Request) -> web.Response:
        info = request.match_info
        now = self.proxy.wall()
        try:
            until = float(request.query.get("until", math.floor(now) + 1))
            since = float(request.query.get("since", until - 60))
            samples = int(request.query.get("samples", 0))
            slow = request.query.get("slowerThan")
            slower_than = float(slow) if slow is not None else None
        except ValueError:
            return error(
                400,
                "since and until must be unix seconds, samples an integer, slowerThan seconds",
            )
        if not (math.isfinite(since) and math.isfinite(until)) or since > until:
            return error(400, f"since ({since}) must not be after until ({until})")
        if not 0 <= samples <= 100_000:
            return error(400, "samples must be between 0 and 100000")
        if slower_than is not None and not (math.isfinite(slower_than) and slower_than > 0):
            return error(400, f"slowerThan ({slower_than}) must be positive seconds")
        key = (info["namespace"], info["service"], info["revision"])
        return web.json_response(
            self.proxy.stats.query(
                key, since=since, until=until, samples=samples, now=now, slower_than=slower_than
            )
        )

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self.proxy.metrics.render(), headers={"Content-Type": metrics.CONTENT_TYPE}
        )

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "status": "ok",
                "pid": os.getpid(),
                "bootId": self.proxy.boot_id,
                "version": self.proxy.version,
                "routes": len(self.proxy.listeners),
            }
        )

    @web.middleware
    async def _authorize(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        """Every write needs the token (see the module docstring)."""
        if request.method not in ("GET", "HEAD") and not auth.authorized(
            request.headers.get("Authorization"), self.proxy.token
        ):
            response = error(
                401,
                f"{request.method} {request.path}: unauthorized: send Authorization: Bearer"
                f" <the token in {auth.TOKEN_FILE} of the state dir>",
            )
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        result: web.StreamResponse = await handler(request)
        return result

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._authorize])
        route = "/v1/routes/{namespace}/{service}"
        app.router.add_put(route, self._put)
        app.router.add_get(route, self._get)
        app.router.add_delete(route, self._delete)
        app.router.add_get("/v1/routes", self._list)
        app.router.add_get("/v1/stats/{namespace}/{service}/{revision}", self._stats)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        return app
