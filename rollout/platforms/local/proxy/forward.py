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
- Upstream timeouts: `connect_timeout` to connect, `read_timeout` between two reads
  (a slow stream is fine as long as bytes keep coming).

Called by `server` (one `Listener` per service); records every request through the
`record` callback.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, MultiMapping

from rollout.platforms.local.proxy import stats, table

__all__ = [
    "HOP_BY_HOP",
    "REVISION_HEADER",
    "TAG_HEADER",
    "Forwarder",
    "Listener",
    "request_headers",
    "response_headers",
]

TAG_HEADER = "Rollout-Tag"
REVISION_HEADER = "Rollout-Revision"
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
    """Forwards requests for every listener through one pooled ClientSession."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        record: Record,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
    ) -> None:
        self.session = session
        self.record = record
        self.clock = clock
        self.rng = rng or random.Random()
        self.timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=read_timeout
        )

    async def handle(self, listener: Listener, request: web.BaseRequest) -> web.StreamResponse:
        started = self.clock()
        routes = listener.table  # one read: a swap applies to the next request
        picked = routes.pick(
            self.rng,
            revision=request.headers.get(REVISION_HEADER),
            tag=request.headers.get(TAG_HEADER),
        )
        where = f"{listener.namespace}/{listener.service}"
        if isinstance(picked, table.Miss):
            code = "error" if picked.status == 502 else stats.code_class(picked.status)
            self.record((listener.namespace, listener.service, ""), code, None)
            return _plain(picked.status, f"rollout proxy: {where}: {picked.reason}")
        key = (listener.namespace, listener.service, picked.revision)
        assert picked.url is not None  # pick() returns ready targets only
        headers = request_headers(request.headers, request.remote)
        body = request.content if request.body_exists else None
        response: web.StreamResponse | None = None
        try:
            async with self.session.request(
                request.method,
                picked.url + request.raw_path,
                headers=headers,
                data=body,
                allow_redirects=False,
                timeout=self.timeout,
                skip_auto_headers=("Accept-Encoding", "User-Agent", "Content-Type"),
            ) as upstream:
                out_headers = response_headers(upstream.headers, picked.revision)
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
        except (TimeoutError, aiohttp.ClientError, ConnectionResetError) as exc:
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


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "upstream timed out"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to upstream ({exc.os_error.strerror or exc.os_error})"
    return f"upstream failed: {type(exc).__name__}: {exc}"


def _plain(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text + "\n", headers={"Cache-Control": "no-store"})
