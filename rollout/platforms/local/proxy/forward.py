"""The proxy's data plane: forward one request to the revision its service's table
picks, streaming both bodies.

- The target comes from `Listener.table`, read once per request: a table swapped by
  the admin API applies to the next request, never to one in flight.
- The client's method, path, query and headers are passed on, minus hop-by-hop headers
  (RFC 9110 §7.6.1, plus those named in `Connection`) and `Expect`; `X-Forwarded-For`
  gets the client's address appended; `Host` is kept. Bodies are streamed chunk by
  chunk both ways and never decompressed (a response body of at most 64 KiB with a
  Content-Length is read whole and sent in one write: fewer syscalls, same bytes).
- The response carries `Rollout-Revision: <name>` (who served it).
- 502 with a plain-text body when no revision is ready or the upstream cannot be
  reached or fails before its headers (code class `error`); if the upstream fails
  mid-body the client connection is aborted, so a cut body never looks complete.
- One retry, as nginx's `proxy_next_upstream error` does: an unpinned request is sent
  once more, to another ready revision of the table picked by weight
  (`Table.pick(exclude=…)`), when its upstream *refused the connection* (nothing was
  sent: the body is only read once connected), or when a body-less request of an
  idempotent method (GET, HEAD, OPTIONS) lost its upstream connection before any
  response header (the process died under it) — a canary that just died gives its
  share to the stable until the runtime notices, and no client sees its death. A
  pinned request (`Rollout-Revision`, `Rollout-Tag`) asked for that revision and gets
  its 502; so does any other failure (a timeout, or a request with a body or of
  another method, may have had its effect).
  Counted truthfully: each client request once, under the revision that answered it;
  the attempt that failed and was retried is not a request its revision served (the
  client got an answer from the other), so it is counted in `retried`
  (`rollout_proxy_retries_total{revision}`) and not in that revision's stats — its
  death is the runtime's to report (restarts, a crash loop fails the canary).
- Upstream timeouts: `connect_timeout` to connect, `read_timeout` between two reads
  (a slow stream is fine as long as bytes keep coming).

Request rules (header routes, the sticky session, mirrors: `rules`) are hooks here:
the table's `choose` decides (a header route is a pin: no retry elsewhere), a target
of the sticky revision adds its `Set-Cookie` to the response, and a request with a
mirror is handed to `mirror.Mirrors.prepare` first (which may read its small body:
the primary is then sent a stream that replays it).

Called by `server` (one `Listener` per service); records every request through the
`record` callback.
"""

from __future__ import annotations

import dataclasses
import errno
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, MultiMapping

from rollout.api import names
from rollout.platforms.local.proxy import stats, table, upstream

if TYPE_CHECKING:
    from rollout.platforms.local.proxy import mirror

__all__ = [
    "HOP_BY_HOP",
    "REVISION_HEADER",
    "TAG_HEADER",
    "Forwarder",
    "Listener",
    "request_headers",
    "response_headers",
]

TAG_HEADER = names.TAG_HEADER
REVISION_HEADER = names.REVISION_HEADER
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
CHUNK = 64 * 1024
SMALL = 64 * 1024  # bodies up to this size, with a Content-Length, are sent in one write

Record = Callable[[tuple[str, str, str], str, float | None], None]
Retried = Callable[[tuple[str, str, str]], None]  # (namespace, service, revision that refused)


class _Retriable(Exception):
    """The upstream failed the request so that sending it again elsewhere is safe: it
    refused the connection (nothing was sent), or an idempotent body-less request lost
    its connection before any response header."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclasses.dataclass
class Listener:
    """One service's data-plane listener; `table` is swapped whole by the admin API."""

    namespace: str
    service: str
    port: int
    table: table.Table
    runner: web.ServerRunner | None = None
    site: web.SockSite | None = None


def _dropped(headers: MultiMapping[str]) -> set[str]:
    names = set(HOP_BY_HOP)
    for value in headers.getall("Connection", []):
        names.update(token.strip().lower() for token in value.split(",") if token.strip())
    return names


def request_headers(headers: MultiMapping[str], remote: str | None) -> CIMultiDict[str]:
    """The headers to send upstream: hop-by-hop and Expect dropped, X-Forwarded-For set."""
    drop = _dropped(headers) | {"expect"}
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        if name.lower() not in drop:
            out.add(name, value)
    if remote:
        previous = out.getall("X-Forwarded-For", [])
        out.popall("X-Forwarded-For", None)
        out["X-Forwarded-For"] = ", ".join([*previous, remote])
    return out


def response_headers(headers: MultiMapping[str], revision: str) -> CIMultiDict[str]:
    """The headers to send the client: hop-by-hop dropped, Rollout-Revision set."""
    drop = _dropped(headers)
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        if name.lower() not in drop:
            out.add(name, value)
    out[REVISION_HEADER] = revision
    return out


class Forwarder:
    """Forwards requests for every listener through one pool of upstream connections
    (`upstream.Pool`; `session` stays for other callers, such as side requests)."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        pool: upstream.Pool | None = None,
        record: Record,
        retried: Retried | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        mirrors: mirror.Mirrors | None = None,
    ) -> None:
        self.session = session
        self.pool = pool or upstream.Pool(
            connect_timeout=connect_timeout, read_timeout=read_timeout
        )
        self.mirrors = mirrors
        self.record = record
        self.retried = retried
        self.clock = clock
        self.rng = rng or random.Random()
        self.timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=read_timeout
        )

    async def handle(self, listener: Listener, request: web.BaseRequest) -> web.StreamResponse:
        started = self.clock()
        routes = listener.table  # one read: a swap applies to the next request
        choice = routes.choose(self.rng, request.headers)
        picked = choice.picked
        where = f"{listener.namespace}/{listener.service}"
        if isinstance(picked, table.Miss):
            code = "error" if picked.status == 502 else stats.code_class(picked.status)
            self.record((listener.namespace, listener.service, ""), code, None)
            return _plain(picked.status, f"rollout proxy: {where}: {picked.reason}")
        pinned = choice.pinned
        body = None  # --- rules hook: a mirrored request's copy (and its buffered body)
        if choice.mirror is not None and choice.mirror_target and self.mirrors is not None:
            body = await self.mirrors.prepare(
                listener, request, choice.mirror, choice.mirror_target
            )
        try:
            return await self._forward(listener, request, picked, started, body)
        except _Retriable as failed:
            key = (listener.namespace, listener.service, picked.revision)
            why = f"rollout proxy: {where}: revision {picked.revision}: {_describe(failed.cause)}"
            other = None if pinned else routes.pick(self.rng, exclude=picked.revision)
            if other is None or isinstance(other, table.Miss):
                self.record(key, "error", None)  # pinned, or nowhere else: the client's 502
                return _plain(502, why)
            if self.retried is not None:
                self.retried(key)
            try:
                return await self._forward(listener, request, other, started, body)
            except _Retriable as again:  # no second retry
                self.record((listener.namespace, listener.service, other.revision), "error", None)
                return _plain(
                    502,
                    f"rollout proxy: {where}: revision {other.revision}: {_describe(again.cause)}",
                )

    async def _forward(
        self,
        listener: Listener,
        request: web.BaseRequest,
        picked: table.Target,
        started: float,
        buffered: aiohttp.StreamReader | None = None,
    ) -> web.StreamResponse:
        """Send the request to `picked` and stream its answer back; raises `_Retriable`
        (nothing recorded) when sending it elsewhere is safe. `buffered`: the request
        body, read to be mirrored, to send instead of `request.content`."""
        where = f"{listener.namespace}/{listener.service}"
        key = (listener.namespace, listener.service, picked.revision)
        assert picked.url is not None  # pick() returns ready targets only
        headers = request_headers(request.headers, request.remote)
        body = request.content if request.body_exists else None
        if buffered is not None:  # rules hook: the body was read for a mirror
            body = buffered
        response: web.StreamResponse | None = None
        try:
            async with self.pool.request(
                request.method, picked.url, request.raw_path, headers, body
            ) as upstream:
                out_headers = response_headers(upstream.headers, picked.revision)
                if picked.set_cookie is not None:  # rules hook: the sticky session
                    out_headers.add("Set-Cookie", picked.set_cookie)
                length = upstream.content_length
                if length is not None and length <= SMALL and request.method != "HEAD":
                    # A small body of known length: one read, one write (no chunk loop).
                    payload = await upstream.read()
                    out_headers.popall("Content-Length", None)
                    response = web.Response(
                        status=upstream.status,
                        reason=upstream.reason,
                        headers=out_headers,
                        body=payload,
                    )
                    await response.prepare(request)
                else:
                    response = web.StreamResponse(
                        status=upstream.status, reason=upstream.reason, headers=out_headers
                    )
                    await response.prepare(request)
                    async for chunk in upstream.content.iter_chunked(CHUNK):
                        await response.write(chunk)
                await response.write_eof()
                self.record(key, stats.code_class(upstream.status), self.clock() - started)
                return response
        except aiohttp.ClientConnectorError as exc:
            if _refused(exc):
                raise _Retriable(exc) from exc
            self.record(key, "error", None)
            return _plain(
                502, f"rollout proxy: {where}: revision {picked.revision}: {_describe(exc)}"
            )
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
            if response is None and request.method in IDEMPOTENT and not request.body_exists:
                raise _Retriable(exc) from exc  # died before answering: safe to ask another
            return self._failed(key, where, picked, request, response, exc)
        except (TimeoutError, aiohttp.ClientError, ConnectionResetError) as exc:
            return self._failed(key, where, picked, request, response, exc)

    def _failed(
        self,
        key: tuple[str, str, str],
        where: str,
        picked: table.Target,
        request: web.BaseRequest,
        response: web.StreamResponse | None,
        exc: BaseException,
    ) -> web.StreamResponse:
        """Answer (and count) an upstream failure that is not retried."""
        if response is not None and response.prepared and isinstance(exc, ConnectionResetError):
            # Writing to the client failed: it went away. The revision answered, so
            # count what it answered.
            self.record(key, stats.code_class(response.status), None)
            return response
        self.record(key, "error", None)
        if response is None or not response.prepared:
            reason = _describe(exc)
            return _plain(502, f"rollout proxy: {where}: revision {picked.revision}: {reason}")
        if request.transport is not None:  # mid-body: cut the client connection
            request.transport.abort()
        return response


def _refused(exc: aiohttp.ClientConnectorError) -> bool:
    return (
        isinstance(exc.os_error, ConnectionRefusedError) or exc.os_error.errno == errno.ECONNREFUSED
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "upstream timed out"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to upstream ({exc.os_error.strerror or exc.os_error})"
    return f"upstream failed: {type(exc).__name__}: {exc}"


def _plain(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text + "\n", headers={"Cache-Control": "no-store"})
