"""The dashboard's aiohttp application: pages, fragments, live updates and actions.

Routes:

- `GET /`: the overview; `GET /ns/{ns}/services/{name}` a service's current
  release (`?release=NAME`: a past one). `?fragment=1` answers the content only:
  what the script swaps.
- `GET /events`: server-sent events — `change` within a poll of a change in the
  store, `tick` every `tick` seconds (the time in step moves on). The poller
  (`_poll`) asks `Source.changed()` every `poll` seconds and takes a new snapshot
  when it says yes.
- `POST /ns/{ns}/services/{name}/{action}`: promote, promote-full, pause, resume,
  retry, abort, undo — through `rollout.cli.intents`, as the CLI. Abort and undo
  answer with a question first and act on a second POST with `confirm=yes`.
  Answers JSON (`{ok, message}` or `{confirm}`) to the script (`Accept:
  application/json`), a page otherwise; 200 when the command holds, 409 when it does
  not apply, 503 when the store could not be used.
- `GET /static/{file}`: the script and the stylesheet, from the package.

Every request passes `guard`: the Host, then the token. A POST is refused (403) on
a read-only dashboard, from another origin, or without the CSRF token — before its
form is even read for anything else. GET never acts.

All store work runs on one worker thread (`_io`), in order; the event loop only
renders and answers. What an action does is `actions`. Served by
`rollout.cli.dashboard_cmd`, or from a thread by `background.start` (the demo, the
tests).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import importlib.resources
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import structlog
from aiohttp import web

from rollout.cli import common
from rollout.cli.dashboard import actions
from rollout.cli.dashboard import guard as guards
from rollout.cli.dashboard import source as sources
from rollout.store import errors
from rollout.views import board, pages, releasepage
from rollout.views import events as event_view

__all__ = ["Dashboard"]

log = structlog.get_logger(__name__)
_T = TypeVar("_T")

_STATIC = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
_EVENTS = 20  # events under a release


class Dashboard:
    """One dashboard: its `source` (the store), its `guard`, whether it may act, who
    it acts as (`by`), and how often it looks at the store (`poll`, s)."""

    def __init__(
        self,
        source: sources.Source,
        *,
        guard: guards.Guard,
        read_only: bool,
        by: str | None,
        poll: float = 0.25,
        tick: float = 5.0,
    ) -> None:
        self.source = source
        self.guard = guard
        self.read_only = read_only
        self.by = by
        self.poll = poll
        self.tick = tick
        self.version = 0  # bumped on every new snapshot
        self._snapshot: sources.Snapshot | None = None
        self._io = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="dashboard-store")
        self._changed: asyncio.Condition | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._diagram: str | None = None  # the state machine's SVG, drawn once
        self._static = {
            name: (importlib.resources.files(__package__) / "static" / name).read_bytes()
            for name in _STATIC
        }

    def bound(self, port: int) -> None:
        """The port the server listens on (asked for 0: any free one): the Host the
        guard accepts."""
        self.guard = dataclasses.replace(self.guard, port=port)

    # --- the store, off the loop ----------------------------------------------------------

    async def _run(self, func: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._io, func)

    async def _refresh(self, *, force: bool = False) -> None:
        """Take a new snapshot when the store changed; tell the pages."""
        source = self.source

        def look() -> sources.Snapshot | None:
            return source.look() if force or source.changed() else None

        snap = await self._run(look)
        if snap is None:
            return
        self._snapshot = snap
        self.version += 1
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    async def _poll(self) -> None:
        assert self._wake is not None
        while not self._stopping:
            try:
                await self._refresh()
            except (errors.StoreError, sqlite3.Error, OSError) as exc:
                log.warning("dashboard store unreadable", error=common.message_of(exc))
            except Exception:  # a bug must not end the live updates of every page
                log.exception("dashboard poll failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll)
            self._wake.clear()

    async def snapshot(self) -> sources.Snapshot:
        if self._snapshot is None:
            await self._refresh(force=True)
        assert self._snapshot is not None
        return self._snapshot

    # --- the application ------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._check])
        app.router.add_get("/", self._overview)
        app.router.add_get("/events", self._stream)
        app.router.add_get("/static/{file}", self._file)
        app.router.add_get("/ns/{ns}/services/{name}", self._release)
        app.router.add_post("/ns/{ns}/services/{name}/{action}", self._act)
        app.cleanup_ctx.append(self._lifetime)
        app.on_shutdown.append(self._shutdown)
        return app

    async def _shutdown(self, app: web.Application) -> None:
        """Before open connections are waited for: the streams end."""
        self._stopping = True
        if self._wake is not None:
            self._wake.set()
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()

    async def _lifetime(self, app: web.Application) -> AsyncIterator[None]:
        self._changed = asyncio.Condition()
        self._wake = asyncio.Event()
        poller = asyncio.create_task(self._poll())
        yield
        await self._shutdown(app)
        await poller
        self._io.shutdown(wait=True)

    @web.middleware
    async def _check(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        g = self.guard
        if not g.host_ok(request.headers.get("Host")):
            return web.Response(status=421, text="this dashboard is not served under that name\n")
        query = request.query.get("token")
        if not g.authorized(
            authorization=request.headers.get("Authorization"),
            cookie=request.cookies.get(guards.COOKIE),
            query=query,
        ):
            return web.Response(
                status=401, text="a token is needed: open the URL the dashboard printed\n"
            )
        if query is not None and request.method == "GET":
            # the token from the printed URL: kept in a cookie, out of the address bar
            rest = request.rel_url.with_query(
                [(k, v) for k, v in request.query.items() if k != "token"]
            )
            answer = web.HTTPSeeOther(location=str(rest))
            answer.set_cookie(guards.COOKIE, query, httponly=True, samesite="Strict", path="/")
            return answer
        if request.method == "POST":
            refused = self._refuse_post(request)
            if refused is not None:
                return refused
        response = await handler(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
        )
        return response

    def _refuse_post(self, request: web.Request) -> web.Response | None:
        if self.read_only:
            return _refused(request, "this dashboard is read-only")
        if not self.guard.same_origin(
            origin=request.headers.get("Origin"),
            host=request.headers.get("Host"),
            fetch_site=request.headers.get("Sec-Fetch-Site"),
        ):
            return _refused(request, "refused: the request does not come from this dashboard")
        return None

    # --- pages ----------------------------------------------------------------------------

    def _page(self, request: web.Request, title: str, content: str) -> web.Response:
        if request.query.get("fragment"):
            body = content
        else:
            body = pages.layout(title, content, csrf=self.guard.csrf, read_only=self.read_only)
        return web.Response(
            text=body, content_type="text/html", headers={"Cache-Control": "no-store"}
        )

    async def _overview(self, request: web.Request) -> web.Response:
        snap = await self.snapshot()
        now = self.source.clock.now()  # the time in step moves on between snapshots
        cards = board.overview(
            board.card(
                s, snap.current(s), now, rt=snap.routes.get(_key(s)), problems=snap.problems(s)
            )
            for s in snap.services
        )
        ns = self.source.namespace
        scope = "all namespaces" if ns is None else f"namespace {ns}"
        content = pages.overview(cards, csrf=self.guard.csrf, read_only=self.read_only, scope=scope)
        return self._page(request, "Services", content)

    async def _release(self, request: web.Request) -> web.Response:
        snap = await self.snapshot()
        now = self.source.clock.now()
        ns, name = request.match_info["ns"], request.match_info["name"]
        svc = snap.find(ns, name)
        if svc is None:
            raise web.HTTPNotFound(text=f"service {name!r} not found in namespace {ns}\n")
        rels = snap.releases_of(svc)
        wanted = request.query.get("release")
        rel = snap.current(svc) if wanted is None else snap.releases.get((ns, wanted))
        if rel is None or rel.spec.service != name:
            what = f"release {wanted!r}" if wanted else "no release yet"
            return self._page(request, name, pages.empty(f"service {name}: {what}"))
        shown = event_view.of_service(snap.events, name, ns)[-_EVENTS:]
        page = releasepage.release_page(
            svc,
            rel,
            now,
            rt=snap.routes.get((ns, name)),
            problems=snap.problems(svc),
            releases=rels,
            revisions=snap.revisions.get((ns, name), []),
            events=event_view.rows(shown, now),
        )
        page = dataclasses.replace(page, diagram=await self.diagram())
        content = pages.release(page, csrf=self.guard.csrf, read_only=self.read_only)
        return self._page(request, rel.metadata.name, content)

    async def diagram(self) -> str:
        """The state machine as `rollout diagram --format svg` draws it (once; "" when
        Graphviz's `dot` is not installed)."""
        if self._diagram is None:
            from rollout.cli import diagram_cmd
            from rollout.release import diagram

            def draw() -> str:
                try:
                    return diagram_cmd.render(diagram.dot_source(), "svg").decode()
                except diagram_cmd.GraphvizMissingError:
                    return ""

            self._diagram = await asyncio.get_running_loop().run_in_executor(None, draw)
        return self._diagram

    async def _file(self, request: web.Request) -> web.Response:
        name = request.match_info["file"]
        if name not in _STATIC:
            raise web.HTTPNotFound()
        return web.Response(
            body=self._static[name],
            content_type=_STATIC[name],
            headers={"Cache-Control": "no-cache"},
        )

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: `change` after each new snapshot, `tick` otherwise."""
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
        )
        await response.prepare(request)
        assert self._changed is not None
        seen = self.version
        await response.write(f"event: hello\ndata: {seen}\n\n".encode())
        while not self._stopping:
            async with self._changed:
                try:
                    await asyncio.wait_for(self._changed.wait_for(self._moved(seen)), self.tick)
                    kind = "change"
                except TimeoutError:
                    kind = "tick"
            if self._stopping:
                break
            seen = self.version
            try:
                await response.write(f"event: {kind}\ndata: {seen}\n\n".encode())
            except (ConnectionResetError, RuntimeError):
                break
        return response

    def _moved(self, seen: int) -> Callable[[], bool]:
        return lambda: self.version != seen or self._stopping

    # --- actions --------------------------------------------------------------------------

    async def _act(self, request: web.Request) -> web.Response:
        ns, name, action = (request.match_info[k] for k in ("ns", "name", "action"))
        if action not in actions.NAMES:
            raise web.HTTPNotFound(text=f"no action {action!r}\n")
        form = await request.post()
        given = form.get("csrf")
        if not self.guard.csrf_ok(given if isinstance(given, str) else None):
            return _refused(request, "refused: the form's CSRF token is missing or wrong")
        back = pages.service_path(ns, name)
        if action in pages.CONFIRM and form.get("confirm") != "yes":
            question = actions.question(await self.snapshot(), ns, name, action)
            if _wants_json(request):
                return web.json_response({"confirm": question})
            path = f"{back}/{action}"
            content = pages.confirm_page(question, path, csrf=self.guard.csrf, back=back)
            return self._page(request, f"{action} {name}", content)
        given_step = form.get("step")
        step: int | None = None
        if isinstance(given_step, str) and given_step:
            if not given_step.isascii() or not given_step.isdigit():
                message = f"step {given_step!r} is not a step number"
                return _answer(request, False, message, status=400, back=back)
            step = int(given_step)
        try:
            outcome = await self._run(
                lambda: actions.run(self.source, self.by, ns, name, action, step=step)
            )
        except (errors.StoreError, sqlite3.Error, OSError) as exc:
            log.warning("dashboard action failed", action=action, error=common.message_of(exc))
            return _answer(request, False, common.message_of(exc), status=503, back=back)
        log.info(
            "dashboard action", action=action, service=name, ok=outcome.ok, said=outcome.message
        )
        assert self._wake is not None
        self._wake.set()  # look at the store now: the page shows the change at once
        return _answer(
            request, outcome.ok, outcome.message, status=200 if outcome.ok else 409, back=back
        )


def _key(obj: Any) -> tuple[str, str]:
    return (obj.metadata.namespace or "default", obj.metadata.name)


def _wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _answer(
    request: web.Request, ok: bool, message: str, *, status: int, back: str
) -> web.Response:
    if _wants_json(request):
        return web.json_response({"ok": ok, "message": message}, status=status)
    body = pages.layout(
        "rollout",
        pages.outcome_page(message, ok=ok, back=back),
        csrf="",
        read_only=True,
        live=False,
    )
    return web.Response(text=body, content_type="text/html", status=status)


def _refused(request: web.Request, message: str) -> web.Response:
    if _wants_json(request):
        return web.json_response({"ok": False, "message": message}, status=403)
    return web.Response(status=403, text=message + "\n")
