"""gateway_core.server: uvicorn (as run.sh starts it) sends a response's head with its body.

A real uvicorn server on a real socket, on uvloop as in Lambda; the only addition is a note of
every write that reaches the connection's transport (what becomes a send on the socket).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import uvicorn
import uvloop
from gateway_core.server import HttpProtocol
from gateway_core.streaming import StreamingResponse as OurStreamingResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

Sends = list[bytes]
watchers: list[asyncio.Task[Any]] = []  # tasks waiting on receive for a disconnect


def _app(release: asyncio.Event) -> Starlette:
    async def whole(_: Request) -> Response:
        return Response(b'{"answer":"hi"}', media_type="application/json")

    async def ready_stream(_: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"data: 1\n\n"
            yield b"data: 2\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")

    async def waiting_stream(_: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            await release.wait()  # the model has not answered yet
            yield b"data: 1\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")

    async def silent_stream(_: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            try:
                watchers.extend(t for t in asyncio.all_tasks() if "wait_for_disconnect" in repr(t.get_coro()))
                await asyncio.Event().wait()  # a model that never answers
                yield b"never"
            finally:
                release.set()  # the body's own clean-up: where the upstream connection is closed

        return OurStreamingResponse(chunks(), media_type="text/event-stream")

    routes = [
        Route("/whole", whole),
        Route("/ready", ready_stream),
        Route("/waiting", waiting_stream),
        Route("/silent", silent_stream),
    ]
    return Starlette(routes=routes)


class _Server(uvicorn.Server):
    """uvicorn's server as the CLI runs it, telling when it listens."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


def _serve(test: Callable[[int, Sends, asyncio.Event], Awaitable[None]]) -> Sends:
    sends: Sends = []

    class Noting:
        def __init__(self, transport: Any) -> None:
            self._transport = transport

        def write(self, data: bytes) -> None:
            sends.append(bytes(data))
            self._transport.write(data)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._transport, name)

    class Noted(HttpProtocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(Noting(transport))

    async def main() -> None:
        release = asyncio.Event()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(
            _app(release),
            http=Noted,
            log_level="warning",
            lifespan="off",
            date_header=False,
            timeout_graceful_shutdown=1,  # a failed test's open stream must not hold the shutdown
        )
        server = _Server(config)
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        await asyncio.wait_for(server.ready.wait(), 10)
        try:
            await asyncio.wait_for(test(sock.getsockname()[1], sends, release), 10)
        finally:
            server.should_exit = True
            await serving

    uvloop.run(main())
    return sends


async def _request(port: int, path: str, close: bool = False) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    connection = b"Connection: close\r\n" if close else b""
    writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + connection + b"\r\n")
    answer = await reader.read() if close else await _one_response(reader)
    writer.close()
    return answer


async def _one_response(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    if b"content-length: " in head:
        length = int(head.split(b"content-length: ")[1].split(b"\r\n")[0])
        return head + await reader.readexactly(length)
    return head + await reader.readuntil(b"0\r\n\r\n")


HEAD_WHOLE = b"HTTP/1.1 200 OK\r\nserver: uvicorn\r\ncontent-length: 15\r\ncontent-type: application/json\r\n\r\n"
HEAD_STREAM = (
    b"HTTP/1.1 200 OK\r\nserver: uvicorn\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)


def test_a_whole_answer_is_one_send_head_and_body() -> None:
    async def test(port: int, sends: Sends, _: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(2):  # and again on the kept-alive connection
            writer.write(b"GET /whole HTTP/1.1\r\nHost: x\r\n\r\n")
            assert await _one_response(reader) == HEAD_WHOLE + b'{"answer":"hi"}'
        writer.close()

    assert _serve(test) == [HEAD_WHOLE + b'{"answer":"hi"}'] * 2


def test_a_stream_sends_its_head_with_a_first_chunk_that_is_there() -> None:
    async def test(port: int, sends: Sends, _: asyncio.Event) -> None:
        answer = await _request(port, "/ready")
        assert answer == HEAD_STREAM + b"9\r\ndata: 1\n\n\r\n9\r\ndata: 2\n\n\r\n0\r\n\r\n"

    assert _serve(test) == [HEAD_STREAM + b"9\r\ndata: 1\n\n\r\n", b"9\r\ndata: 2\n\n\r\n", b"0\r\n\r\n"]


def test_a_stream_whose_first_chunk_is_not_there_gets_its_head_at_once() -> None:
    async def test(port: int, sends: Sends, release: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /waiting HTTP/1.1\r\nHost: x\r\n\r\n")
        assert await reader.readuntil(b"\r\n\r\n") == HEAD_STREAM  # before any chunk exists
        release.set()
        assert await reader.readuntil(b"0\r\n\r\n") == b"9\r\ndata: 1\n\n\r\n0\r\n\r\n"
        writer.close()

    assert _serve(test) == [HEAD_STREAM, b"9\r\ndata: 1\n\n\r\n", b"0\r\n\r\n"]


def test_a_closing_connection_sends_everything_first() -> None:
    async def test(port: int, sends: Sends, _: asyncio.Event) -> None:
        answer = await _request(port, "/whole", close=True)
        assert answer == HEAD_WHOLE.replace(b"\r\n\r\n", b"\r\nconnection: close\r\n\r\n") + b'{"answer":"hi"}'

    assert len(_serve(test)) == 1


def test_a_client_leaving_a_silent_stream_is_told_by_the_server_without_a_task() -> None:
    """gateway_core.streaming's response, served by our protocol: the connection's loss cancels the
    stream where it waits (the model silent), with no task made to wait on ``receive`` for it."""

    async def test(port: int, sends: Sends, body_closed: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /silent HTTP/1.1\r\nHost: x\r\n\r\n")
        await reader.readuntil(b"\r\n\r\n")  # the head came; the model says nothing
        writer.close()
        await asyncio.wait_for(body_closed.wait(), 5)

    watchers.clear()
    _serve(test)
    assert watchers == []


def test_a_client_leaving_is_told_only_when_the_server_can_tell() -> None:
    protocol: Any = SimpleNamespace(_client_gone=None)
    cycle: Any = SimpleNamespace(more_body=True, body=bytearray(), disconnected=False)

    def callback() -> None:
        pass

    def register(callback: Any, on: Any = cycle) -> bool:
        told: bool = HttpProtocol.when_client_leaves(protocol, on, callback)
        return told

    assert register(callback) is False  # the body is still coming
    cycle.more_body = False
    cycle.body = bytearray(b"unread")
    assert register(callback) is False  # a body nobody read
    cycle.body = bytearray()
    cycle.disconnected = True
    assert register(callback) is False  # already gone: receive says so at once
    assert protocol._client_gone is None
    cycle.disconnected = False
    assert register(callback) is True
    assert protocol._client_gone == (cycle, callback)
    assert register(None, on=SimpleNamespace()) is True  # another request's end clears nothing
    assert protocol._client_gone == (cycle, callback)
    assert register(None) is True
    assert protocol._client_gone is None
