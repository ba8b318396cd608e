"""Mirroring: a copy of a request, sent in the background to the mirror's revision
(`Table.choose` says which requests, `rules` which mirror), measured there and thrown
away.

- The client gets the primary answer only: the copy is sent beside it, never awaited
  by the request, and whatever happens to it (a slow canary, a 500, a refused
  connection, a timeout) stays here.
- Its answer is counted under the mirror's revision, as any answer of that revision
  (`record`: the stats the `local` metric provider reads, and
  `rollout_proxy_requests_total`), so analysis can judge a canary that served no
  client; latency is from sending the copy to the end of its answer's body. Copies are
  also counted in `rollout_proxy_mirrored_total{namespace,service,revision,code}`
  (client traffic = requests − mirrored).
- Bounded: at most `max_in_flight` copies at once per proxy; a copy beyond that is
  dropped. A request body is buffered to be sent twice, only when it has a
  Content-Length of at most `MAX_BODY` (64 KiB): a larger or chunked body is streamed
  to the primary alone and no copy is made. A mirror whose revision is not ready gets
  no copy. Each case is counted in
  `rollout_proxy_mirror_skipped_total{namespace,service,revision,reason}` (`saturated`,
  `body`, `not-ready`).
- A copy carries the request's method, path, query and headers as forwarded (hop-by-
  hop dropped, X-Forwarded-For set), plus `Rollout-Mirror: <mirror name>` so the
  revision can tell a copy from a client's request (for writes it should not repeat).

Called by `forward` (`prepare`, before the primary is sent); owned by the server (one
per proxy, `close` at shutdown).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp
import structlog
from aiohttp import web
from multidict import CIMultiDict

from rollout.api import matching
from rollout.platforms.local.proxy import forward, metrics, stats, table

__all__ = ["MAX_BODY", "MAX_IN_FLIGHT", "MIRROR_HEADER", "Mirrors"]

MAX_BODY = 64 * 1024
MAX_IN_FLIGHT = 64
MIRROR_HEADER = "Rollout-Mirror"
CHUNK = 64 * 1024
log = structlog.get_logger(__name__)


class Mirrors:
    """Sends the copies of one proxy."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        record: forward.Record,
        proxy_metrics: metrics.ProxyMetrics,
        clock: Callable[[], float] = time.monotonic,
        timeout: aiohttp.ClientTimeout | None = None,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        self.session = session
        self.record = record
        self.metrics = proxy_metrics
        self.clock = clock
        self.timeout = timeout or aiohttp.ClientTimeout(total=30.0, sock_connect=5.0)
        self.max_in_flight = max_in_flight
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def prepare(
        self,
        listener: forward.Listener,
        request: web.BaseRequest,
        mirror: matching.Mirror,
        target: table.Target,
    ) -> aiohttp.StreamReader | None:
        """Start the copy of `request` for `mirror` (or count why not). When the request
        body had to be read to be copied, a reader that gives it again — the primary is
        sent that instead of `request.content` — else None."""
        key = (listener.namespace, listener.service, target.revision)
        if target.url is None:
            self.metrics.mirror_skipped(key, "not-ready")
            return None
        if len(self._tasks) >= self.max_in_flight:
            self.metrics.mirror_skipped(key, "saturated")
            return None
        body: bytes | None = None
        if request.body_exists:
            length = request.content_length
            if length is None or length > MAX_BODY:
                self.metrics.mirror_skipped(key, "body")
                return None
            body = await request.read()
        headers = forward.request_headers(request.headers, request.remote)
        headers[MIRROR_HEADER] = mirror.name
        task = asyncio.ensure_future(
            self._copy(key, request.method, target.url + request.raw_path, headers, body)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return _replay(request, body) if body is not None else None

    async def _copy(
        self,
        key: tuple[str, str, str],
        method: str,
        url: str,
        headers: CIMultiDict[str],
        body: bytes | None,
    ) -> None:
        started = self.clock()
        try:
            async with self.session.request(
                method,
                url,
                headers=headers,
                data=body,
                allow_redirects=False,
                timeout=self.timeout,
                skip_auto_headers=("Accept-Encoding", "User-Agent", "Content-Type"),
            ) as upstream:
                async for _ in upstream.content.iter_chunked(CHUNK):
                    pass
                code = stats.code_class(upstream.status)
                latency: float | None = self.clock() - started
        except (TimeoutError, aiohttp.ClientError, OSError):
            code, latency = "error", None
        except Exception as exc:  # a copy must never take anything down: counted, logged
            log.warning("mirror copy failed", url=url, error=f"{type(exc).__name__}: {exc}")
            code, latency = "error", None
        self.record(key, code, latency)
        self.metrics.mirrored(key, code)

    async def close(self) -> None:
        """Cancel the copies in flight (at shutdown)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _replay(request: web.BaseRequest, body: bytes) -> aiohttp.StreamReader:
    """A body stream (what `request.content` was) holding `body`, whole: the primary
    reads it as it would have read the request's own."""
    reader = aiohttp.StreamReader(request.protocol, 2 * MAX_BODY, loop=asyncio.get_running_loop())
    reader.feed_data(body)
    reader.feed_eof()
    return reader
