"""A streamed answer sent from the request's own task, stopped as soon as its client leaves.

Starlette's ``StreamingResponse`` (under ASGI spec 2.3, which uvicorn's HTTP/1.1 protocols report)
runs the body in a second task of an anyio task group, beside a task that waits for the client
to disconnect. The task group cost ~130-200 us of CPU per stream, before its first byte (in
process, 2026-12-01: README, Performance). Here the body is sent from the request's own task
and a plain asyncio task waits for the disconnect: when the client leaves, it cancels the
request's task wherever it waits (a silent model included), so the body's ``finally`` closes the
upstream connection and LiteLLM stops generating, as with Starlette's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping

from starlette import responses
from starlette.background import BackgroundTask
from starlette.types import Receive, Scope, Send

__all__ = ["StreamingResponse"]

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

        async def wait_for_disconnect() -> None:
            nonlocal client_left, failure
            try:
                while (await receive())["type"] != "http.disconnect":
                    pass  # a request body nobody read: dropped, as Starlette's listener does
                client_left = True
            except Exception as exc:  # raised in the request's task, as Starlette's task group would  # noqa: BLE001
                failure = exc
            task.cancel()

        watcher = asyncio.ensure_future(wait_for_disconnect())
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
            watcher.cancel()
        if self.background is not None:
            await self.background()
