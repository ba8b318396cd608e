"""The proxy's upstream client: HTTP/1.1 to the revisions over pooled keep-alive
connections, lean enough for the data plane's hot path.

Profiling the proxy under load (`bench/proxy.py`) put a third of its CPU in aiohttp's
ClientSession — per request a ClientRequest, a ClientResponse, a StreamReader, timers,
auto-headers and a connector round trip. This client does what `forward` needs and no
more: one asyncio `Protocol` per connection, the request head written in one
`transport.write`, the response head parsed in one pass when it arrives, a small body
kept in the same buffer as it came (no per-chunk futures). Only loopback
`http://127.0.0.1:PORT` targets (`table`), no TLS, no redirects, no cookies, no
decompression.

- **Request**: the method, the target (path and query as the client sent them) and the
  headers given (`forward.request_headers`: the caller's `Host` kept). A body is
  streamed from the caller's reader after the connection is made (never before: a
  refused connection has read nothing, so the request can go elsewhere): as is when
  it has a `Content-Length`, chunked otherwise. POST, PUT and PATCH without a body
  send `Content-Length: 0`.
- **Response**: `status`, `reason`, `headers` (a case-insensitive multidict),
  `content_length`, `read()` (the whole body) and `content.iter_chunked(n)` (streamed,
  with flow control: reading from the upstream pauses while more than `HIGH_WATER`
  bytes wait for the client). Interim 1xx answers are skipped. The body's end is its
  `Content-Length`, the last chunk of a chunked body, or the connection's close
  (then the connection is not reused); HEAD, 204 and 304 answers have none.
- **Pooling**: a connection goes back to its upstream's idle list when its response
  ended cleanly and both sides said keep-alive; idle ones are closed after
  `keepalive_timeout` (checked when taken and by `sweep`). A body-less request of an
  idempotent method that loses a *reused* connection before any byte of answer is
  sent again once on a new connection (the upstream closed an idle connection as we
  sent: RFC 9112 §9.3.1, as aiohttp's client does).
- **Errors**, as aiohttp's classes so `forward` tells them apart as before:
  `aiohttp.ClientConnectorError` (cannot connect; `os_error` says why),
  `aiohttp.ServerDisconnectedError` (the connection closed before the head ended),
  `aiohttp.ClientPayloadError` (it closed mid-body, or the body's framing is wrong),
  `aiohttp.ClientResponseError` (the head is not HTTP/1.x), `aiohttp.ClientOSError`
  (a socket error), `TimeoutError` (`connect_timeout` to connect, `read_timeout`
  waiting for the next bytes of the answer).

Called by `forward` (one `Pool` per proxy process, made by `server`); owns no
listening socket.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any, cast

import aiohttp
from aiohttp import client_reqrep
from multidict import CIMultiDict, MultiMapping

__all__ = ["HIGH_WATER", "MAX_HEAD", "BadResponse", "Pool", "Response"]

MAX_HEAD = 64 * 1024  # bytes of response head (status line and headers)
HIGH_WATER = 256 * 1024  # body bytes buffered before reading from the upstream pauses
_MAX_CHUNK_LINE = 4096
_RETRY_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_LENGTH_IMPLIED = frozenset({"POST", "PUT", "PATCH"})

# Response body framing.
_HEAD, _LENGTH, _CHUNKED, _UNTIL_CLOSE, _DONE = range(5)
# Chunked states.
_SIZE, _DATA, _DATA_END, _TRAILER = range(4)


class BadResponse(aiohttp.ClientError):
    """The upstream's answer is not HTTP/1.x as we read it."""


class _ConnectError(aiohttp.ClientConnectorError):
    """Cannot connect to host:port (aiohttp's class, so callers catch one thing)."""

    def __init__(self, host: str, port: int, os_error: OSError) -> None:
        key = client_reqrep.ConnectionKey(host, port, False, True, None, None, None, None)
        super().__init__(key, os_error)


class Response:
    """One upstream answer, fed by its connection's `data_received`."""

    def __init__(self, conn: _Connection, method: str) -> None:
        self._conn = conn
        self._head_only = method == "HEAD"
        self.status = 0
        self.reason: str | None = None
        self.version = (1, 1)
        self.headers: CIMultiDict[str] = CIMultiDict()
        self.content_length: int | None = None
        self.content = self  # `content.iter_chunked`, as aiohttp's response has it
        self.keep_alive = False
        self.got_bytes = False
        self._state = _HEAD
        self._head = bytearray()
        self._remaining = 0
        self._chunk_state = _SIZE
        self._raw = bytearray()  # chunked framing not yet decoded
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    # -- fed by the connection -------------------------------------------------------

    def feed(self, data: bytes) -> None:
        self.got_bytes = True
        try:
            if self._state == _HEAD:
                self._head += data
                self._parse_head()
            elif self._state == _LENGTH:
                self._feed_length(data)
            elif self._state == _CHUNKED:
                self._raw += data
                self._feed_chunked()
            elif self._state == _UNTIL_CLOSE:
                self._push(data)
            else:  # bytes after the end: the connection cannot be trusted again
                self.keep_alive = False
        except aiohttp.ClientError as exc:
            self.keep_alive = False
            self._fail(exc)
            self._conn.abort()
            return
        self._wake()

    def lost(self, exc: BaseException | None) -> None:
        """The connection closed (`exc` None: cleanly)."""
        self.keep_alive = False
        if self._state == _DONE:
            return
        if self._state == _UNTIL_CLOSE and exc is None:
            self._state = _DONE
        elif self._state == _HEAD:
            self._fail(aiohttp.ServerDisconnectedError())
        else:
            self._fail(aiohttp.ClientPayloadError("Response payload is not completed"))
        self._wake()

    def timed_out(self) -> None:
        self.keep_alive = False
        self._fail(TimeoutError("upstream timed out"))
        self._wake()
        self._conn.abort()

    def _fail(self, exc: BaseException) -> None:
        if self._error is None and self._state != _DONE:
            self._error = exc

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _push(self, data: bytes) -> None:
        if data:
            self._chunks.append(data)
            self._buffered += len(data)
            if self._buffered > HIGH_WATER:
                self._conn.pause_reading()

    def _end(self) -> None:
        self._state = _DONE
        self._conn.response_done(self)

    def _parse_head(self) -> None:
        while True:
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                if len(self._head) > MAX_HEAD:
                    raise BadResponse(f"response head larger than {MAX_HEAD} bytes")
                return
            lines = self._head[:end].decode("utf-8", "surrogateescape").split("\r\n")
            rest = bytes(self._head[end + 4 :])
            self._head.clear()
            version, _, status_reason = lines[0].partition(" ")
            code, _, reason = status_reason.partition(" ")
            if version not in ("HTTP/1.1", "HTTP/1.0") or len(code) != 3 or not code.isdigit():
                raise BadResponse(f"not an HTTP/1.x status line: {lines[0][:100]!r}")
            status = int(code)
            if 100 <= status < 200 and status != 101:  # interim answer: the real one follows
                self._head += rest
                continue
            headers: CIMultiDict[str] = CIMultiDict()
            for line in lines[1:]:
                name, colon, value = line.partition(":")
                if not colon or not name or name[-1] in " \t":
                    raise BadResponse(f"malformed header line: {line[:100]!r}")
                headers.add(name, value.strip(" \t"))
            self.status, self.reason, self.headers = status, reason or None, headers
            self.version = (1, 1) if version == "HTTP/1.1" else (1, 0)
            self._frame(rest)
            return

    def _frame(self, rest: bytes) -> None:
        headers = self.headers
        connection = headers.get("Connection", "").lower()
        if self.version == (1, 1):
            self.keep_alive = "close" not in connection
        else:
            self.keep_alive = "keep-alive" in connection
        length = headers.get("Content-Length")
        if length is not None and not length.isdigit():
            raise BadResponse(f"invalid Content-Length: {length[:40]!r}")
        self.content_length = None if length is None else int(length)
        if self._head_only or self.status in (204, 304):
            self._end()
            if rest:
                self.keep_alive = False
            return
        encoding = headers.get("Transfer-Encoding")
        if encoding is not None:
            if encoding.lower().rsplit(",", 1)[-1].strip() != "chunked":
                self._state = _UNTIL_CLOSE
                self.keep_alive = False
                self._push(rest)
                return
            self._state = _CHUNKED
            self.content_length = None  # chunked wins over a length (RFC 9112 §6.3)
            self._raw += rest
            self._feed_chunked()
            return
        if self.content_length is not None:
            self._remaining = self.content_length
            self._state = _LENGTH
            if self._remaining == 0:
                self._end()
                if rest:
                    self.keep_alive = False
                return
            self._feed_length(rest)
            return
        self._state = _UNTIL_CLOSE
        self.keep_alive = False
        self._push(rest)

    def _feed_length(self, data: bytes) -> None:
        if not data:
            return
        if len(data) >= self._remaining:
            if len(data) > self._remaining:
                self.keep_alive = False  # more than announced: do not reuse
                data = data[: self._remaining]
            self._remaining = 0
            self._push(data)
            self._end()
            return
        self._remaining -= len(data)
        self._push(data)

    def _feed_chunked(self) -> None:
        raw = self._raw
        while raw:
            if self._chunk_state == _SIZE:
                eol = raw.find(b"\r\n")
                if eol < 0:
                    if len(raw) > _MAX_CHUNK_LINE:
                        raise aiohttp.ClientPayloadError("chunk size line too long")
                    return
                size_text = bytes(raw[:eol]).split(b";", 1)[0].strip()
                del raw[: eol + 2]
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise aiohttp.ClientPayloadError(f"invalid chunk size {size_text!r}") from None
                if size < 0:
                    raise aiohttp.ClientPayloadError(f"invalid chunk size {size_text!r}")
                self._remaining = size
                self._chunk_state = _DATA if size else _TRAILER
            elif self._chunk_state == _DATA:
                n = min(self._remaining, len(raw))
                self._push(bytes(raw[:n]))
                del raw[:n]
                self._remaining -= n
                if self._remaining == 0:
                    self._chunk_state = _DATA_END
            elif self._chunk_state == _DATA_END:
                if len(raw) < 2:
                    return
                if raw[:2] != b"\r\n":
                    raise aiohttp.ClientPayloadError("chunk not followed by CRLF")
                del raw[:2]
                self._chunk_state = _SIZE
            else:  # trailers (dropped: hop-by-hop for us), up to the empty line
                eol = raw.find(b"\r\n")
                if eol < 0:
                    if len(raw) > MAX_HEAD:
                        raise aiohttp.ClientPayloadError("trailers too long")
                    return
                del raw[: eol + 2]
                if eol == 0:
                    if raw:
                        self.keep_alive = False
                    self._end()
                    return

    # -- read by the caller ----------------------------------------------------------

    async def _wait(self) -> None:
        """Wait for more of the answer, at most `read_timeout`."""
        loop = self._conn.loop
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(self._conn.pool.read_timeout, self.timed_out)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    async def wait_head(self) -> None:
        while self._state == _HEAD and self._error is None:
            await self._wait()
        if self._state == _HEAD and self._error is not None:
            raise self._error

    def _take(self) -> bytes:
        data = self._chunks.popleft()
        self._buffered -= len(data)
        if self._buffered <= HIGH_WATER // 4:
            self._conn.resume_reading()
        return data

    async def read(self) -> bytes:
        """The whole body."""
        while self._state != _DONE:
            if self._error is not None:
                raise self._error
            await self._wait()
        data = b"".join(self._chunks)
        self._chunks.clear()
        self._buffered = 0
        return data

    async def iter_chunked(self, n: int) -> AsyncIterator[bytes]:
        """The body as it arrives, in pieces of at most `n` bytes."""
        while True:
            if self._chunks:
                data = self._take()
                for start in range(0, len(data), n):
                    yield data[start : start + n]
                continue
            if self._state == _DONE:
                return
            if self._error is not None:
                raise self._error
            await self._wait()


class _Connection(asyncio.Protocol):
    """One keep-alive connection to an upstream; carries one request at a time."""

    def __init__(self, pool: Pool, key: tuple[str, int]) -> None:
        self.pool = pool
        self.key = key
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.response: Response | None = None
        self.closed = False
        self.reused = False
        self.idle_since = 0.0
        self.sending = False
        self._drain: asyncio.Future[None] | None = None
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        response = self.response
        if response is None:  # nothing asked: an idle connection must stay silent
            self.abort()
            return
        response.feed(data)

    def eof_received(self) -> bool:
        return False  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        if self.response is not None:
            self.response.lost(exc)
        self.resume_writing()  # a sender waiting to drain sees `closed`

    def pause_writing(self) -> None:
        self._drain = self.loop.create_future()

    def resume_writing(self) -> None:
        drain, self._drain = self._drain, None
        if drain is not None and not drain.done():
            drain.set_result(None)

    async def drain(self) -> None:
        if self._drain is not None:
            await self._drain
        if self.closed:
            raise aiohttp.ClientOSError("upstream connection lost")

    def write(self, data: bytes) -> None:
        if self.closed or self.transport is None:
            raise aiohttp.ClientOSError("upstream connection lost")
        self.transport.write(data)

    def pause_reading(self) -> None:
        if not self._paused and self.transport is not None and not self.closed:
            self._paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def response_done(self, response: Response) -> None:
        """The whole answer is in `response`; the connection may carry the next one."""
        if self.sending:
            return  # the body is still going out: `finish_send` decides
        self.response = None
        if response.keep_alive and not self.closed:
            self.pool.release(self)
        else:
            self.abort()

    def finish_send(self) -> None:
        self.sending = False
        response = self.response
        if response is not None and response._state == _DONE:
            self.response_done(response)


class _Exchange:
    """`async with pool.request(...) as response`: sends, then waits for the head."""

    def __init__(self, pool: Pool, args: tuple[Any, ...]) -> None:
        self._pool = pool
        self._args = args
        self._response: Response | None = None

    async def __aenter__(self) -> Response:
        self._response = await self._pool.send(*self._args)
        return self._response

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        response = self._response
        if response is not None and response._state != _DONE:
            response._conn.abort()  # the caller stopped reading: never reuse it


class Pool:
    """Keep-alive connections to the upstreams, by (host, port)."""

    def __init__(
        self,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        keepalive_timeout: float = 30.0,
        max_idle: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.keepalive_timeout = keepalive_timeout
        self.max_idle = max_idle
        self.clock = clock
        self._sweeper: asyncio.TimerHandle | None = None
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._all: set[_Connection] = set()
        self._keys: dict[str, tuple[str, int]] = {}

    def request(
        self,
        method: str,
        url: str,
        target: str,
        headers: MultiMapping[str],
        body: aiohttp.StreamReader | None,
    ) -> _Exchange:
        """Send `method target` to `url` (`http://HOST:PORT`); the response once its
        head arrived (see the module docstring)."""
        return _Exchange(self, (method, url, target, headers, body))

    async def send(
        self,
        method: str,
        url: str,
        target: str,
        headers: MultiMapping[str],
        body: aiohttp.StreamReader | None,
    ) -> Response:
        key = self._keys.get(url)
        if key is None:
            host, _, port = url.removeprefix("http://").rpartition(":")
            key = self._keys[url] = (host, int(port))
        head, chunked = _head(method, target, headers, key, body is not None)
        conn = self._idle_connection(key)
        if conn is not None and body is None and method in _RETRY_METHODS:
            try:
                return await self._exchange(conn, method, head, None, chunked=False)
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
                if conn.response is not None and conn.response.got_bytes:
                    raise
                conn = None  # an idle connection the upstream had closed: once more, anew
        if conn is None:
            conn = await self._connect(key)
        return await self._exchange(conn, method, head, body, chunked=chunked)

    async def _exchange(
        self,
        conn: _Connection,
        method: str,
        head: bytes,
        body: aiohttp.StreamReader | None,
        *,
        chunked: bool,
    ) -> Response:
        response = conn.response = Response(conn, method)
        try:
            if body is None:
                conn.write(head)
            else:
                conn.sending = True
                try:
                    await self._send_body(conn, head, body, chunked=chunked)
                finally:
                    conn.finish_send()
            await response.wait_head()
        except BaseException:
            conn.abort()
            raise
        return response

    async def _send_body(
        self, conn: _Connection, head: bytes, body: aiohttp.StreamReader, *, chunked: bool
    ) -> None:
        conn.write(head)
        while True:
            data = await body.readany()
            if not data:
                break
            conn.write(b"%x\r\n%b\r\n" % (len(data), data) if chunked else data)
            await conn.drain()
        if chunked:
            conn.write(b"0\r\n\r\n")

    def _idle_connection(self, key: tuple[str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        now = self.clock()
        while idle:
            conn = idle.pop()
            if conn.closed or now - conn.idle_since > self.keepalive_timeout:
                conn.abort()
                continue
            conn.reused = True
            return conn
        return None

    async def _connect(self, key: tuple[str, int]) -> _Connection:
        host, port = key
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, protocol = await asyncio.get_running_loop().create_connection(
                    lambda: _Connection(self, key), host, port
                )
        except TimeoutError:
            raise aiohttp.ServerTimeoutError(
                f"connection to {host}:{port} timed out after {self.connect_timeout:g} s"
            ) from None
        except OSError as exc:
            raise _ConnectError(host, port, exc) from exc
        assert isinstance(protocol, _Connection)
        self._all.add(protocol)
        return protocol

    def release(self, conn: _Connection) -> None:
        idle = self._idle.setdefault(conn.key, [])
        if len(idle) >= self.max_idle:
            conn.abort()
            return
        conn.resume_reading()
        conn.idle_since = self.clock()
        idle.append(conn)
        if self._sweeper is None:
            self._sweeper = conn.loop.call_later(self.keepalive_timeout / 2, self._sweep_again)

    def _sweep_again(self) -> None:
        self._sweeper = None
        self.sweep()
        if any(self._idle.values()):
            loop = asyncio.get_running_loop()
            self._sweeper = loop.call_later(self.keepalive_timeout / 2, self._sweep_again)

    def forget(self, conn: _Connection) -> None:
        self._all.discard(conn)
        idle = self._idle.get(conn.key)
        if idle and conn in idle:
            idle.remove(conn)

    def sweep(self) -> None:
        """Close the connections idle longer than `keepalive_timeout`."""
        oldest = self.clock() - self.keepalive_timeout
        for idle in self._idle.values():
            for conn in [c for c in idle if c.idle_since < oldest]:
                conn.abort()

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for conn in list(self._all):
            conn.abort()
        self._idle.clear()


def _head(
    method: str, target: str, headers: MultiMapping[str], key: tuple[str, int], has_body: bool
) -> tuple[bytes, bool]:
    """The request head, and whether the body goes chunked. Header text is encoded as
    aiohttp's server decoded it (UTF-8, undecodable bytes kept as they came)."""
    lines = [f"{method} {target} HTTP/1.1"]
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    if "Host" not in headers:
        lines.append(f"Host: {key[0]}:{key[1]}")
    chunked = has_body and "Content-Length" not in headers
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    elif not has_body and method in _LENGTH_IMPLIED and "Content-Length" not in headers:
        lines.append("Content-Length: 0")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("utf-8", "surrogateescape"), chunked
