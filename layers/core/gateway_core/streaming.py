"""A streamed answer sent from the request's own task, stopped as soon as its client leaves.

Starlette's ``StreamingResponse`` (under ASGI spec 2.3, which uvicorn's HTTP/1.1 protocols report)
runs the body in a second task of an anyio task group, beside a task that waits for the client
to disconnect. The task group cost ~130-200 us of CPU per stream, before its first byte (in
process, 2026-12-01: README, Performance). Here the body is sent from the request's own task:
when the client leaves, the request's task is cancelled wherever it waits (a silent model
included), so the body's ``finally`` closes the upstream connection and LiteLLM stops generating,
as with Starlette's.

Who notices the client leaving: our server (``gateway_core.server``, as run.sh and the local
stand-in serve the functions) calls back when the connection is lost, offered in the scope's
extensions under ``DISCONNECT_EXTENSION``; elsewhere (mangum, test clients, another server), or
when the server cannot tell (the request's body is not all read), a plain asyncio task waits on
``receive`` for the disconnect. The callback spares each stream a task made, run and cancelled
before its first byte.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping

from starlette import responses
from starlette.background import BackgroundTask
from starlette.types import Receive, Scope, Send

__all__ = ["DISCONNECT_EXTENSION", "StreamingResponse", "WhenClientLeaves"]

DISCONNECT_EXTENSION = "gateway.disconnect"
# Registers the callback for the client leaving before the answer is complete (None: no more);
# False when the server cannot tell, and nothing was registered.
WhenClientLeaves = Callable[[Callable[[], None] | None], bool]

Content = AsyncIterable[bytes] | Iterable[bytes]


async def _in_memory(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


class StreamingResponse(responses.StreamingResponse):
    """Starlette's ``StreamingResponse`` without its task group. A plain iterable is taken to be
    in memory (a list of frames) and is iterated in place, not in a worker thread."""

    def __init__(
        self,
        content: Content,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        body = content if isinstance(content, AsyncIterable) else _in_memory(content)
        super().__init__(body, status_code, headers, media_type, background)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        if scope["type"] != "http" or task is None:
            await super().__call__(scope, receive, send)
            return
        client_left = False
        failure: Exception | None = None

        def left() -> None:
            nonlocal client_left
            client_left = True
            task.cancel()

        async def wait_for_disconnect() -> None:
            nonlocal failure
            try:
                while (await receive())["type"] != "http.disconnect":
                    pass  # a request body nobody read: dropped, as Starlette's listener does
            except Exception as exc:  # raised in the request's task, as Starlette's task group would  # noqa: BLE001
                failure = exc
                task.cancel()
                return
            left()

        when_client_leaves: WhenClientLeaves | None = scope.get("extensions", {}).get(DISCONNECT_EXTENSION)
        told = when_client_leaves is not None and when_client_leaves(left)
        watcher = None if told else asyncio.ensure_future(wait_for_disconnect())
        try:
            await self.stream_response(send)
        except asyncio.CancelledError:
            # The server says the client left (also once the answer is complete, which may race
            # with the last send): the stream is over, not the request. Any other cancellation
            # (shutdown) goes on.
            if not (client_left or failure) or task.uncancel() > 0:
                raise
            if failure is not None:
                raise failure from None
        finally:
            if watcher is not None:
                watcher.cancel()
            elif when_client_leaves is not None:
                when_client_leaves(None)
        if self.background is not None:
            await self.background()
