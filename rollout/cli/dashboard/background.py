"""A dashboard served from a thread of this process, on its own event loop: what
`rollout demo --dashboard` runs beside the tour, and what the tests start on port 0.

`start(dashboard, host, port)` returns once the server listens (or raises what
stopped it, e.g. `OSError` for an address in use); `Running.stop()` ends it and waits
for its thread. I/O: the listening socket and the thread. Called by
`rollout.cli.dashboard_cmd.serve_in_thread` and the tests.
"""

from __future__ import annotations

import asyncio
import threading

from aiohttp import web

from rollout.cli.dashboard import guard, server

__all__ = ["Running", "start"]


class Running:
    """A dashboard serving from a thread: its `port`, its `url`, `stop()`."""

    def __init__(self, dashboard: server.Dashboard, host: str, port: int) -> None:
        self.dashboard = dashboard
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None
        self._error: BaseException | None = None
        self.port = 0
        self._thread = threading.Thread(
            target=self._serve, args=(host, port), name="dashboard", daemon=True
        )
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error
        self.url = f"http://{guard.host_port(host, self.port)}"

    def _serve(self, host: str, port: int) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._setup(host, port))
        except BaseException as exc:
            self._error = exc
            if self._runner is not None:
                self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        assert self._runner is not None
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    async def _setup(self, host: str, port: int) -> None:
        self._runner = web.AppRunner(self.dashboard.app(), access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self.dashboard.bound(self.port)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


def start(dashboard: server.Dashboard, host: str, port: int) -> Running:
    """Serve `dashboard` on `host:port` (0: any free port) from a thread."""
    return Running(dashboard, host, port)
