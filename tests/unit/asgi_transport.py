"""A LiteLLM transport that hands each request to an ASGI app in process: the unit tests' fake
LiteLLM sits behind the same ``gateway_core.http.Transport`` protocol as the real one
(``gateway_core.h1_transport``), so handlers run unchanged, streaming included, with no socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from gateway_core.errors import UpstreamUnavailableError
from gateway_core.http import UpstreamRequest
from starlette.types import ASGIApp, Message

__all__ = ["AsgiTransport"]


@dataclass
class _AsgiResponse:
    status_code: int
    headers: list[tuple[str, str]]
    _chunks: asyncio.Queue[bytes | None]
    _task: asyncio.Task[None]
    _done: bool = field(default=False)

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        while not self._done:
            chunk = await self._chunks.get()
            if chunk is None:
                self._done = True
                if self._task.done() and self._task.exception() is not None:
                    raise UpstreamUnavailableError("LiteLLM is unreachable (ServerDisconnectedError)")
                return
            yield chunk

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.iter_chunks()])

    def at_eof(self) -> bool:
        return self._done

    async def close(self, *, reuse: bool) -> None:
        if not self._task.done():
            self._task.cancel()  # the fake LiteLLM sees its client go away, as a dropped connection
        await asyncio.gather(self._task, return_exceptions=True)


class AsgiTransport:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.requests: list[UpstreamRequest] = []  # every request, as LiteLLM would have received it

    async def send(self, request: UpstreamRequest) -> _AsgiResponse:
        self.requests.append(request)
        path, _, query = request.path.partition("?")
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in request.headers],
            "server": ("litellm.test", 80),
            "client": ("127.0.0.1", 50000),
        }
        body_sent = False
        started: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        chunks: asyncio.Queue[bytes | None] = asyncio.Queue()

        async def receive() -> Message:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": request.content, "more_body": False}
            await asyncio.Event().wait()  # no disconnect until the task is cancelled
            raise AssertionError("unreachable")

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.set_result(message)
            elif message["type"] == "http.response.body":
                if message.get("body"):
                    await chunks.put(bytes(message["body"]))
                if not message.get("more_body", False):
                    await chunks.put(None)

        async def run() -> None:
            try:
                await self.app(scope, receive, send)
            finally:
                if not started.done():
                    started.set_exception(UpstreamUnavailableError("LiteLLM is unreachable (ServerDisconnectedError)"))
                await chunks.put(None)

        task = asyncio.create_task(run())
        start = await started
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in start.get("headers", [])]
        return _AsgiResponse(start["status"], headers, chunks, task)

    async def aclose(self) -> None:
        return None
