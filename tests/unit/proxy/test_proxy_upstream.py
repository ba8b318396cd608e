"""The proxy's upstream client (`upstream.Pool`) against a scripted HTTP server on
127.0.0.1: body framing (Content-Length, chunked, until close, none for HEAD/204),
interim 1xx answers, keep-alive reuse and its one resend on a stale connection, the
errors `forward` tells apart, and the read timeout."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from multidict import CIMultiDict

from rollout.platforms.local.proxy import upstream

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
HEADERS = CIMultiDict({"Host": "example.test"})


async def _read_head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


def _serve(script: Script, check: Callable[[upstream.Pool, str], Awaitable[None]]) -> list[int]:
    """Run `check(pool, url)` against a server answering each connection with
    `script`; the number of connections each request arrived on, in order."""
    connections: list[int] = []

    async def main() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connections.append(len(connections))
            try:
                await script(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        pool = upstream.Pool(connect_timeout=2.0, read_timeout=1.0)
        try:
            await check(pool, f"http://127.0.0.1:{port}")
        finally:
            pool.close()
            server.close()
            await server.wait_closed()

    asyncio.run(main())
    return connections


def _answer(*answers: bytes) -> Script:
    """Read one request head per answer and write the answer (then keep the
    connection open until the client closes it)."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for answer in answers:
            await _read_head(reader)
            writer.write(answer)
            await writer.drain()
        await reader.read()

    return script


class TestFraming:
    @pytest.mark.parametrize(
        ("answer", "body"),
        [
            (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", b"hello"),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"3;ext=1\r\nhel\r\n2\r\nlo\r\n0\r\nX-Trailer: 1\r\n\r\n",
                b"hello",
            ),
            (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", b"ok"),
            (b"HTTP/1.1 204 No Content\r\n\r\n", b""),
        ],
        ids=["content-length", "chunked-with-trailers", "interim-100-skipped", "204-no-body"],
    )
    def test_body_is_read_whole(self, answer: bytes, body: bytes) -> None:
        """Each framing gives the body the upstream sent, and the connection is reused."""

        async def check(pool: upstream.Pool, url: str) -> None:
            for _ in range(2):
                async with pool.request("GET", url, "/", HEADERS, None) as response:
                    assert response.status in (200, 204)
                    assert await response.read() == body

        assert _serve(_answer(answer, answer), check) == [0]

    def test_answer_split_across_reads_streams_in_pieces(self) -> None:
        """A chunked body written in many small writes arrives whole through iter_chunked."""

        async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _read_head(reader)
            wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            wire += b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in (b"ab", b"cde", b"f" * 70000))
            wire += b"0\r\n\r\n"
            for i in range(0, len(wire), 7001):
                writer.write(wire[i : i + 7001])
                await writer.drain()
            await reader.read()

        async def check(pool: upstream.Pool, url: str) -> None:
            async with pool.request("GET", url, "/", HEADERS, None) as response:
                got = [chunk async for chunk in response.content.iter_chunked(65536)]
            assert b"".join(got) == b"abcde" + b"f" * 70000
            assert max(len(c) for c in got) <= 65536

        _serve(script, check)

    def test_until_close_body_ends_with_the_connection(self) -> None:
        """No length and no chunking: the body is what came before the close; the
        connection is not reused."""

        async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _read_head(reader)
            writer.write(b"HTTP/1.1 200 OK\r\n\r\nall of it")
            await writer.drain()

        async def check(pool: upstream.Pool, url: str) -> None:
            for _ in range(2):
                async with pool.request("GET", url, "/", HEADERS, None) as response:
                    assert response.content_length is None
                    assert await response.read() == b"all of it"

        assert _serve(script, check) == [0, 1]

    def test_head_answer_has_no_body_whatever_its_length(self) -> None:
        """HEAD: Content-Length is the GET's, no body follows; the connection is reused."""
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"

        async def check(pool: upstream.Pool, url: str) -> None:
            for _ in range(2):
                async with pool.request("HEAD", url, "/", HEADERS, None) as response:
                    assert response.content_length == 1000
                    assert await response.read() == b""

        assert _serve(_answer(answer, answer), check) == [0]


class TestRequest:
    def test_head_and_streamed_body_are_sent_as_given(self) -> None:
        """The request line and headers as given; a body without length goes chunked."""
        seen: list[bytes] = []

        async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.append(await _read_head(reader))
            seen.append(await reader.readuntil(b"0\r\n\r\n"))
            writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
            await reader.read()

        async def check(pool: upstream.Pool, url: str) -> None:
            body = aiohttp.StreamReader(_Protocol(), 2**16, loop=asyncio.get_running_loop())
            body.feed_data(b"abc")
            body.feed_data(b"de")
            body.feed_eof()
            headers = CIMultiDict({"Host": "h", "X-A": "1"})
            async with pool.request("POST", url, "/p?q=1", headers, body) as response:
                assert response.status == 201
                assert response.reason == "Created"

        _serve(script, check)
        assert seen[0] == (
            b"POST /p?q=1 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        assert seen[1] == b"5\r\nabcde\r\n0\r\n\r\n"  # what was buffered, as one chunk


class _Protocol:
    """What aiohttp's StreamReader asks of its protocol (flow control, unused here)."""

    _reading_paused = False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self, **_: object) -> None:
        pass


class TestErrors:
    def test_refused_connection_is_a_connector_error(self) -> None:
        """Nothing listens: ClientConnectorError whose os_error says refused."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]

        async def main() -> None:
            pool = upstream.Pool()
            with pytest.raises(aiohttp.ClientConnectorError) as caught:
                async with pool.request("GET", f"http://127.0.0.1:{port}", "/", HEADERS, None):
                    pass
            assert isinstance(caught.value.os_error, ConnectionRefusedError)
            pool.close()

        asyncio.run(main())

    def test_close_before_the_head_is_server_disconnected(self) -> None:
        """The upstream reads the request and hangs up: ServerDisconnectedError."""

        async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _read_head(reader)

        async def check(pool: upstream.Pool, url: str) -> None:
            with pytest.raises(aiohttp.ServerDisconnectedError):
                async with pool.request("GET", url, "/", HEADERS, None):
                    pass

        _serve(script, check)

    def test_close_mid_body_is_a_payload_error(self) -> None:
        """Fewer bytes than announced, then a close: ClientPayloadError, never a short body."""

        async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _read_head(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")
            await writer.drain()

        async def check(pool: upstream.Pool, url: str) -> None:
            async with pool.request("GET", url, "/", HEADERS, None) as response:
                with pytest.raises(aiohttp.ClientPayloadError):
                    await response.read()

        _serve(script, check)

    def test_not_http_is_a_bad_response(self) -> None:
        """A status line that is not HTTP/1.x: BadResponse (a ClientError)."""

        async def check(pool: upstream.Pool, url: str) -> None:
            with pytest.raises(upstream.BadResponse, match="not an HTTP/1"):
                async with pool.request("GET", url, "/", HEADERS, None):
                    pass

        _serve(_answer(b"SSH-2.0-OpenSSH\r\n\r\n"), check)

    def test_silent_upstream_times_out(self) -> None:
        """No byte of answer within read_timeout: TimeoutError."""

        async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _read_head(reader)
            await reader.read()

        async def check(pool: upstream.Pool, url: str) -> None:
            with pytest.raises(TimeoutError):
                async with pool.request("GET", url, "/", HEADERS, None):
                    pass

        _serve(script, check)


class TestReuse:
    def test_stale_idle_connection_is_replaced_once_for_a_get(self) -> None:
        """The upstream closed the idle connection as the next GET went out: the GET is
        sent again on a new connection, and answered."""
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

        async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await _read_head(reader)
            writer.write(answer)
            await writer.drain()
            await _read_head(reader)  # the next request arrives, and is dropped

        async def check(pool: upstream.Pool, url: str) -> None:
            for _ in range(2):
                async with pool.request("GET", url, "/", HEADERS, None) as response:
                    assert await response.read() == b"ok"

        assert _serve(script, check) == [0, 1]

    def test_connection_close_is_not_reused(self) -> None:
        """`Connection: close` from the upstream: the next request takes a new connection."""
        answer = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"

        async def check(pool: upstream.Pool, url: str) -> None:
            for _ in range(2):
                async with pool.request("GET", url, "/", HEADERS, None) as response:
                    assert await response.read() == b"ok"

        assert _serve(_answer(answer), check) == [0, 1]
