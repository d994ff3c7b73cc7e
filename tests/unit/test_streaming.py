"""gateway_core.streaming.StreamingResponse, driven through ASGI directly: what it sends, and
how a client leaving, a shutdown and a failing ``receive`` end it (uvicorn's side is covered by
tests/integration/test_upstream_failures.py)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from gateway_core.streaming import StreamingResponse
from starlette.types import Message

SCOPE: dict[str, Any] = {"type": "http", "asgi": {"spec_version": "2.3"}}


class Client:
    """The server's side of one request: the body was read; ``leave()`` disconnects."""

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.left = asyncio.Event()

    async def receive(self) -> Message:
        await self.left.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    def leave(self) -> None:
        self.left.set()


def bodies(client: Client) -> list[bytes]:
    return [m["body"] for m in client.sent if m["type"] == "http.response.body"]


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def first_then_silence() -> AsyncIterator[bytes]:
    """One chunk, then a model that never says anything again."""
    yield b"first"
    await asyncio.Event().wait()


def test_a_whole_stream_is_head_chunks_and_end_and_leaves_no_task_behind() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"a"
        yield b"b"

    async def main() -> tuple[Client, int]:
        client = Client()
        await StreamingResponse(chunks(), headers={"x-h": "1"}, media_type="text/event-stream")(
            SCOPE, client.receive, client.send
        )
        await asyncio.sleep(0)  # let the cancelled watcher finish
        return client, len(asyncio.all_tasks())

    client, tasks = run(main())
    assert client.sent[0] == {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"x-h", b"1"), (b"content-type", b"text/event-stream; charset=utf-8")],
    }
    assert client.sent[1:] == [
        {"type": "http.response.body", "body": b"a", "more_body": True},
        {"type": "http.response.body", "body": b"b", "more_body": True},
        {"type": "http.response.body", "body": b"", "more_body": False},
    ]
    assert tasks == 1  # only main(): the watcher is gone


def test_a_client_leaving_a_silent_stream_ends_it_at_once_and_the_request_normally() -> None:
    closed: list[str] = []
    model_answers = asyncio.Event()

    async def silent_after_one() -> AsyncIterator[bytes]:
        try:
            yield b"first"
            await model_answers.wait()  # never set: a model thinking
            yield b"never"
        finally:
            closed.append("upstream closed")

    async def serve(client: Client) -> int:
        await StreamingResponse(silent_after_one())(SCOPE, client.receive, client.send)
        task = asyncio.current_task()
        assert task is not None
        return task.cancelling()  # what runs after it in the request's task (logs, metrics) may wait again

    async def main() -> tuple[Client, int]:
        client = Client()
        serving = asyncio.ensure_future(serve(client))
        while not bodies(client):
            await asyncio.sleep(0)
        client.leave()
        return client, await asyncio.wait_for(serving, 1)  # returns, does not raise CancelledError

    client, cancellations_left = run(main())
    assert bodies(client) == [b"first"]
    assert closed == ["upstream closed"]
    assert cancellations_left == 0


def test_a_cancellation_that_is_not_the_client_leaving_goes_on() -> None:
    async def main() -> None:
        client = Client()
        serving = asyncio.ensure_future(StreamingResponse(first_then_silence())(SCOPE, client.receive, client.send))
        while not bodies(client):
            await asyncio.sleep(0)
        serving.cancel()  # a shutdown, say
        with pytest.raises(asyncio.CancelledError):
            await serving

    run(main())


def test_a_receive_that_fails_fails_the_request() -> None:
    async def broken_receive() -> Message:
        raise RuntimeError("receive broke")

    async def main() -> None:
        client = Client()
        await StreamingResponse(first_then_silence())(SCOPE, broken_receive, client.send)

    with pytest.raises(RuntimeError, match="receive broke"):
        run(main())


def test_the_client_leaving_just_as_the_answer_ends_is_no_error() -> None:
    """uvicorn answers ``receive`` with a disconnect once the response is complete."""

    async def one() -> AsyncIterator[bytes]:
        yield b"only"

    async def main() -> Client:
        client = Client()
        inner_send = client.send

        async def send_then_complete(message: Message) -> None:
            await inner_send(message)
            if message.get("more_body") is False:
                client.leave()
                await asyncio.sleep(0)  # the server yields after the last write: the watcher runs

        await StreamingResponse(one())(SCOPE, client.receive, send_then_complete)
        return client

    client = run(main())
    assert bodies(client) == [b"only", b""]


def test_an_in_memory_list_is_sent_in_place_not_from_a_worker_thread() -> None:
    threads: list[int] = []

    def frames() -> Iterator[bytes]:
        threads.append(threading.get_ident())
        yield b"x"
        yield b"y"

    async def main() -> Client:
        client = Client()
        await StreamingResponse(frames())(SCOPE, client.receive, client.send)
        return client

    client = run(main())
    assert bodies(client) == [b"x", b"y", b""]
    assert threads == [threading.get_ident()]
