"""The HTTP/1.1 transport to LiteLLM (gateway_core.h1_transport) against scripted servers on real
sockets: what it writes, how it reads every shape of answer, and what each failure becomes. Every
test runs on both event loops the gateway uses (asyncio; uvloop under uvicorn in Lambda).

The pool's behaviour when LiteLLM restarts or dies is in test_upstream_pool.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvloop
from gateway_core import h1_transport
from gateway_core.errors import UpstreamTimeoutError, UpstreamUnavailableError
from gateway_core.h1_transport import Http1Transport
from gateway_core.http import UpstreamRequest
from gateway_core.settings import Settings

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
GET = UpstreamRequest("GET", "/key/info", [], b"")
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
run: Callable[[Coroutine[Any, Any, Any]], Any] = asyncio.run  # the loop of the test being run


@pytest.fixture(autouse=True, params=["asyncio", "uvloop"])
def _event_loop(request: pytest.FixtureRequest) -> Iterator[None]:
    global run  # noqa: PLW0603 (the helpers below run scenarios on it)
    run = asyncio.run if request.param == "asyncio" else uvloop.run
    yield
    run = asyncio.run


class Server:
    """An asyncio server on 127.0.0.1 running ``handler`` for each connection it accepts."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.accepted = 0
        self.requests: list[bytes] = []

    async def __aenter__(self) -> Server:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.accepted += 1
            try:
                await self.handler(reader, writer)
            finally:
                writer.close()

        self._server = await asyncio.start_server(serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *_: object) -> None:
        self._server.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next((int(line[15:]) for line in head.split(b"\r\n") if line.startswith(b"content-length: ")), 0)
        request = head + await reader.readexactly(length)
        self.requests.append(request)
        return request


def transport_for(server: Server, **settings: Any) -> Http1Transport:
    return Http1Transport(Settings(litellm_base_url=server.url, **{"litellm_read_timeout_s": 5, **settings}))


def answering(*answers: bytes, then_close: bool = False) -> Callable[[Server], Handler]:
    """A handler that reads one request per answer and writes it, in order."""

    def bind(server: Server) -> Handler:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            for answer in answers:
                try:
                    await server.read_request(reader)
                except asyncio.IncompleteReadError:  # the client closed this connection
                    return
                writer.write(answer)
                await writer.drain()
            if not then_close:
                await reader.read()  # keep the connection until the client closes it

        return handler

    return bind


def answers_then_waits(answer: bytes, closed: asyncio.Event) -> Callable[[Server], Handler]:
    """A handler that reads one request, writes ``answer`` (whole, partial or nothing) and sets
    ``closed`` once the client has closed the connection."""

    def bind(server: Server) -> Handler:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.read_request(reader)
            writer.write(answer)
            await reader.read()  # until the client gives up and closes
            closed.set()

        return handler

    return bind


def scenario(make_handler: Callable[[Server], Handler], body: Callable[[Server], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        server = Server(lambda r, w: asyncio.sleep(0))
        server.handler = make_handler(server)
        async with server:
            return await body(server)

    return run(main())


@dataclass
class Sent:
    requests: list[bytes]  # as the server read them, head and body
    answers: list[tuple[int, bytes]]  # status and body of each answer
    authority: str  # the server's host:port


def send_each(*requests: UpstreamRequest, base_path: str = "") -> Sent:
    """Each request in turn through one transport to a server answering OK to all; each answer
    read whole and its connection released."""
    seen: list[bytes] = []

    def make(server: Server) -> Handler:
        server.requests = seen
        return answering(*[OK] * len(requests))(server)

    async def body(server: Server) -> Sent:
        transport = Http1Transport(Settings(litellm_base_url=server.url + base_path, litellm_read_timeout_s=5))
        answers = []
        for request in requests:
            response = await transport.send(request)
            answers.append((response.status_code, await response.read()))
            await response.close(reuse=True)
        await transport.aclose()
        return Sent(seen, answers, server.url.removeprefix("http://"))

    sent: Sent = scenario(make, body)
    return sent


def test_a_request_is_written_as_one_head_and_its_body() -> None:
    headers = [("x-a", "1"), ("authorization", "Bearer k")]
    sent = send_each(UpstreamRequest("POST", "/v1/chat completions?a=b&c=%2F", headers, b"{}"))
    (status, answer), authority, seen = sent.answers[0], sent.authority, sent.requests
    assert (status, answer) == (200, b"ok")
    assert seen == [
        b"POST /v1/chat%20completions?a=b&c=%2F HTTP/1.1\r\nhost: " + authority.encode() + b"\r\n"
        b"x-a: 1\r\nauthorization: Bearer k\r\ncontent-length: 2\r\n\r\n{}"
    ]


def test_a_post_without_a_body_says_its_length_is_zero_and_a_get_says_nothing() -> None:
    seen = send_each(UpstreamRequest("POST", "/key/regenerate", [], b""), GET).requests
    assert [r.split(b"\r\n")[0] for r in seen] == [b"POST /key/regenerate HTTP/1.1", b"GET /key/info HTTP/1.1"]
    assert [r.endswith(b"content-length: 0\r\n\r\n") for r in seen] == [True, False]


@pytest.mark.parametrize("bad", ["1\r\nx-injected: 2", "1\rx", "1\nx", "1\0x"], ids=["crlf", "cr", "lf", "nul"])
def test_a_line_break_in_a_header_is_refused_before_anything_is_sent(bad: str) -> None:
    async def body(server: Server) -> int:
        transport = transport_for(server)
        with pytest.raises(ValueError, match="^a line of the upstream request's head holds a line break or NUL$"):
            await transport.send(UpstreamRequest("GET", "/key/info", [("x-a", bad)], b""))
        await transport.aclose()
        return server.accepted

    assert scenario(answering(OK), body) == 0


def test_header_bytes_go_back_as_they_came_and_our_own_text_as_utf8() -> None:
    """A caller's header value was decoded from latin-1 bytes: it is sent as those bytes. A value
    of ours beyond latin-1 goes in UTF-8, on its line only."""
    seen = send_each(
        UpstreamRequest("GET", "/", [("x-a", "caf\u00e9")], b""),
        UpstreamRequest("GET", "/", [("x-a", "caf\u00e9"), ("x-b", "\u20ac")], b""),
    ).requests
    assert [r.split(b"\r\n")[2:-2] for r in seen] == [[b"x-a: caf\xe9"], [b"x-a: caf\xe9", b"x-b: \xe2\x82\xac"]]


def test_a_large_body_and_a_base_path_are_sent_exactly() -> None:
    content = bytes(range(256)) * 400  # 100 KiB: written apart from the head
    sent = send_each(UpstreamRequest("POST", "/v1/chat/completions", [], content), base_path="/litellm/")
    (request,) = sent.requests
    head, _, body = request.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == b"POST /litellm/v1/chat/completions HTTP/1.1"
    assert head.endswith(b"content-length: 102400") and body == content


def test_a_chunked_stream_is_relayed_as_it_arrives() -> None:
    second_may_go = asyncio.Event()

    def make(server: Server) -> Handler:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
            writer.write(b"7\r\ndata: 1\r\n")
            await writer.drain()
            await second_may_go.wait()  # only once the client has relayed the first chunk
            writer.write(b"7\r\ndata: 2\r\n0\r\n\r\n")
            await writer.drain()
            await reader.read()

        return handler

    async def body(server: Server) -> tuple[list[bytes], list[tuple[str, str]], bool]:
        transport = transport_for(server)
        response = await transport.send(GET)
        assert not response.at_eof()  # only the head and the first chunk are here
        chunks = []
        async for chunk in response.iter_chunks():
            chunks.append(chunk)
            second_may_go.set()
        at_eof = response.at_eof()
        await response.close(reuse=True)
        await transport.aclose()
        return chunks, response.headers, at_eof

    assert scenario(make, body) == (
        [b"data: 1", b"data: 2"],
        [("content-type", "text/event-stream"), ("transfer-encoding", "chunked")],
        True,
    )


def test_a_slow_reader_stops_reading_from_litellm_until_it_drains() -> None:
    size = 1024 * 1024

    def make(server: Server) -> Handler:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % size + b"x" * size)
            await writer.drain()
            await reader.read()

        return handler

    async def body(server: Server) -> tuple[bool, bool, int]:
        transport = transport_for(server)
        response = await transport.send(GET)
        connection = response._connection  # type: ignore[attr-defined]
        while connection.transport.is_reading():  # the relay takes nothing meanwhile
            await connection.wait(5)
        paused = not connection.transport.is_reading()
        buffered_bounded = connection._buffered <= h1_transport._HIGH_WATER + 256 * 1024
        total = len(connection.take())
        resumed = connection.transport.is_reading()
        while connection.transport.is_reading():  # it pauses again, not only the first time
            await connection.wait(5)
        total += len(await response.read())
        await response.close(reuse=True)
        await transport.aclose()
        return paused and buffered_bounded, resumed, total

    assert scenario(make, body) == (True, True, size)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf", "answer cut short"),
        (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhal", "answer cut short"),
        (b"HTTP/1.1 200 OK\r\ncontent-le", "connection closed before the answer"),
        (b"NOT HTTP AT ALL\r\n\r\n", "malformed answer"),
    ],
    ids=["short-length", "short-chunked", "half-head", "garbage"],
)
def test_a_broken_answer_is_a_502_with_its_reason(answer: bytes, expected: str) -> None:
    async def body(server: Server) -> None:
        transport = transport_for(server)
        try:
            response = await transport.send(UpstreamRequest("POST", "/v1/chat/completions", [], b"{}"))
            await response.read()
        finally:
            await transport.aclose()

    with pytest.raises(UpstreamUnavailableError) as caught:
        scenario(answering(answer, then_close=True), body)
    assert (caught.value.status_code, caught.value.message) == (502, f"LiteLLM is unreachable ({expected})")


@pytest.mark.parametrize(
    "silent_after", [b"", b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf"], ids=["no-head", "mid-body"]
)
def test_silence_past_the_read_timeout_is_a_504(silent_after: bytes) -> None:
    closed = asyncio.Event()

    make = answers_then_waits(silent_after, closed)

    async def body(server: Server) -> bool:
        transport = transport_for(server, litellm_read_timeout_s=0.2)

        async def call() -> None:
            response = await transport.send(GET)
            try:
                await response.read()
            finally:
                await response.close(reuse=False)

        with pytest.raises(UpstreamTimeoutError) as caught:
            await asyncio.wait_for(call(), 3)  # the read timeout, not this bound, must end it
        assert (caught.value.status_code, caught.value.message) == (504, "LiteLLM did not answer in time")
        await asyncio.wait_for(closed.wait(), 5)  # LiteLLM learns that we left
        await transport.aclose()
        return closed.is_set()

    assert scenario(make, body) is True


def test_an_answer_without_a_length_ends_with_its_connection_which_is_not_reused() -> None:
    async def body(server: Server) -> tuple[bytes, bytes, int]:
        transport = transport_for(server)
        answers = []
        for _ in range(2):
            response = await transport.send(GET)
            answers.append(await response.read())
            await response.close(reuse=True)
        await transport.aclose()
        return answers[0], answers[1], server.accepted

    unframed = b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nall of it"
    assert scenario(answering(unframed, then_close=True), body) == (b"all of it", b"all of it", 2)


def gets(times: int) -> Callable[[Server], Awaitable[int]]:
    """A client that sends ``times`` GETs one after the other, each read whole and released; it
    returns how many connections the server accepted."""

    async def body(server: Server) -> int:
        transport = transport_for(server)
        for _ in range(times):
            response = await transport.send(GET)
            await response.read()
            await response.close(reuse=True)
        await transport.aclose()
        return server.accepted

    return body


def test_connection_close_is_honoured_and_keep_alive_reused() -> None:
    closing = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok"
    assert scenario(answering(OK, OK, OK), gets(3)) == 1
    # The server says it will close, and has not yet: the connection is not used again all the same.
    assert scenario(answering(closing), gets(3)) == 3


def test_an_interim_answer_is_skipped_and_a_head_request_has_no_body() -> None:
    async def body(server: Server) -> tuple[list[tuple[int, list[tuple[str, str]], bytes]], int]:
        transport = transport_for(server)
        seen = []
        for request in (GET, UpstreamRequest("HEAD", "/ui", [], b""), GET):
            response = await transport.send(request)
            seen.append((response.status_code, response.headers, await response.read()))
            await response.close(reuse=True)
        await transport.aclose()
        return seen, server.accepted

    interim = b"HTTP/1.1 100 Continue\r\nx-interim: 1\r\n\r\n" + OK
    head = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"
    # After HEAD the parser still expects the 5 bytes announced: that connection is not used again.
    assert scenario(answering(interim, head, OK), body) == (
        [
            (200, [("content-length", "2")], b"ok"),
            (200, [("content-length", "5")], b""),
            (200, [("content-length", "2")], b"ok"),
        ],
        2,
    )


def test_closing_twice_parks_the_connection_once() -> None:
    async def body(server: Server) -> tuple[int, int]:
        transport = transport_for(server)
        response = await transport.send(GET)
        await response.read()
        await response.close(reuse=True)
        await response.close(reuse=True)
        pool = transport._pool()
        parked = len(pool._idle)
        await transport.aclose()
        return parked, server.accepted

    assert scenario(answering(OK, OK), body) == (1, 1)


def test_bytes_on_an_idle_connection_retire_it() -> None:
    extra = OK + b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nno"  # one answer too many
    assert scenario(answering(extra, OK), gets(2)) == 2


def test_past_the_connection_limit_a_request_waits_for_a_free_one_then_times_out() -> None:
    async def body(server: Server) -> tuple[int, str]:
        transport = transport_for(server, litellm_max_connections=1, litellm_connect_timeout_s=0.3)
        opening = asyncio.ensure_future(transport.send(GET))
        waiting = asyncio.ensure_future(transport.send(GET))  # while the first connection is still opening
        first = await opening
        assert not waiting.done()
        await first.read()
        await first.close(reuse=True)  # the waiting request takes this connection
        second = await waiting
        await second.read()
        # Now hold the only connection: the next request waits, then gives up as a failed connect.
        with pytest.raises(UpstreamUnavailableError) as caught:
            await transport.send(GET)
        await second.close(reuse=True)
        await transport.aclose()
        return server.accepted, caught.value.message

    assert scenario(answering(OK, OK), body) == (1, "LiteLLM is unreachable (connect timed out)")


def test_a_caller_that_leaves_mid_answer_closes_the_connection() -> None:
    closed = asyncio.Event()

    make = answers_then_waits(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\none\r\n", closed)

    async def body(server: Server) -> bool:
        transport = transport_for(server)
        response = await transport.send(GET)

        first_chunk = asyncio.Event()

        async def relay() -> None:
            async for _ in response.iter_chunks():
                first_chunk.set()

        task = asyncio.ensure_future(relay())
        await first_chunk.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await response.close(reuse=response.at_eof())
        await asyncio.wait_for(closed.wait(), 5)
        await transport.aclose()
        return closed.is_set()

    assert scenario(make, body) is True


def test_refused_connections_and_a_non_http_base_url() -> None:
    async def refused() -> str:
        from local.processes import free_port

        transport = Http1Transport(Settings(litellm_base_url=f"http://127.0.0.1:{free_port()}"))
        with pytest.raises(UpstreamUnavailableError) as caught:
            await transport.send(GET)
        return caught.value.message

    assert run(refused()) == "LiteLLM is unreachable (ConnectionRefusedError)"

    async def https() -> None:
        await Http1Transport(Settings(litellm_base_url="https://litellm.internal")).send(GET)

    with pytest.raises(ValueError, match="must be http://"):
        run(https())


def test_a_closed_connection_frees_its_place_under_the_limit() -> None:
    closing = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok"

    async def body(server: Server) -> int:
        transport = transport_for(server, litellm_max_connections=1, litellm_connect_timeout_s=0.5)
        for _ in range(3):  # each answer closes its connection: the next one may open
            response = await transport.send(GET)
            await response.read()
            await response.close(reuse=True)
        await transport.aclose()
        return server.accepted

    assert scenario(answering(closing, then_close=True), body) == 3


def test_an_idle_connection_is_closed_after_the_keepalive() -> None:
    idle_closed = asyncio.Event()

    def make(server: Server) -> Handler:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await server.read_request(reader)
            writer.write(OK)
            if await reader.read() == b"":  # we closed it, not the server
                idle_closed.set()

        return handler

    async def body(server: Server) -> tuple[bool, int]:
        transport = transport_for(server, litellm_keepalive_s=0.05)
        response = await transport.send(GET)
        await response.read()
        await response.close(reuse=True)
        await asyncio.wait_for(idle_closed.wait(), 5)
        parked = len(transport._pool()._idle)
        await transport.aclose()
        return idle_closed.is_set(), parked

    assert scenario(make, body) == (True, 0)


def test_an_answer_closed_before_it_was_read_is_never_reused() -> None:
    closed = asyncio.Event()

    make = answers_then_waits(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf", closed)

    async def body(server: Server) -> int:
        transport = transport_for(server)
        response = await transport.send(GET)
        await response.close(reuse=True)  # asked to reuse, but six bytes are still on their way
        await asyncio.wait_for(closed.wait(), 5)
        parked = len(transport._pool()._idle)
        await transport.aclose()
        return parked

    assert scenario(make, body) == 0


def test_a_complete_answer_closed_unread_is_not_reused() -> None:
    """All of it arrived, none of it was read: its bytes must not be taken for the next answer's."""

    async def body(server: Server) -> tuple[int, bytes]:
        transport = transport_for(server)
        unread = await transport.send(GET)
        await unread.close(reuse=True)
        response = await transport.send(GET)
        second = await response.read()
        await response.close(reuse=True)
        await transport.aclose()
        return server.accepted, second

    assert scenario(answering(OK, OK), body) == (2, b"ok")
