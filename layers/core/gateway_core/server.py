"""uvicorn's HTTP/1.1 protocol (httptools), with a response's head sent together with its body.

uvicorn writes a response's status line and headers, then its body (or each chunk), as separate
socket writes. On loopback (the Lambda Web Adapter is a local client, as is everything the bench
runs) a write costs the sender the receiver's wake-up too, so a whole answer paid for two sends
and woke its reader twice before it could be read. Here the head waits for the next write, and
goes out with it in one send: a whole answer's body, or a stream's first chunk when it is there in
the same step of the event loop. A head nothing follows in that step (a stream whose model has
not answered yet) is sent at the end of the step (``call_soon``: before the loop next waits for
I/O), as early as before for the client. Body writes are never held: the last byte leaves before
the request's log line, metrics and trace are written.

Each request's scope also offers the streaming response (``gateway_core.streaming``) a callback
for the client leaving, called from ``connection_lost``: without it, every stream made a task whose
only job was to wait on ``receive`` for the disconnect.

Started as ``uvicorn --http gateway_core.server:HttpProtocol`` (run.sh).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from gateway_core.streaming import DISCONNECT_EXTENSION

__all__ = ["HeadWithBodyTransport", "HttpProtocol"]


def _is_head(data: bytes | bytearray | memoryview) -> bool:
    """uvicorn writes a response head in one piece: status line to the blank line. (Were a body
    ever taken for one, it would only wait for the end of the step: order is kept either way.)"""
    return bytes(data[:5]) == b"HTTP/" and bytes(data[-4:]) == b"\r\n\r\n"


class HeadWithBodyTransport:
    """A transport that holds a response head until the next write (or the end of the loop
    step) and sends both in one. Everything else is the wrapped transport's; ``close`` and
    ``abort`` keep the order (what is held is sent first, or dropped with the connection)."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._pending:
            self._pending.append(bytes(data))
            self._flush()
        elif _is_head(data):
            self._pending.append(bytes(data))
            self._loop.call_soon(self._flush)
        else:
            self._transport.write(data)

    def _flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a ``HeadWithBodyTransport``, telling a stream its client left."""

    _client_gone: tuple[RequestResponseCycle, Callable[[], None]] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(HeadWithBodyTransport(transport, self.loop))  # type: ignore[arg-type]

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.cycle is not None:  # the cycle uvicorn just made for this request
            extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
            extensions[DISCONNECT_EXTENSION] = partial(self.when_client_leaves, self.cycle)

    def when_client_leaves(self, cycle: RequestResponseCycle, callback: Callable[[], None] | None) -> bool:
        """``callback`` is called if the connection is lost before ``cycle``'s answer is complete
        (None: no more). False, registering nothing, when that cannot be told: a request body not
        all read (uvicorn may have paused reading the socket for it), or a client already gone."""
        if callback is None:
            if self._client_gone is not None and self._client_gone[0] is cycle:
                self._client_gone = None
            return True
        if cycle.more_body or cycle.body or cycle.disconnected:
            return False
        self._client_gone = (cycle, callback)
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        gone, self._client_gone = self._client_gone, None
        if gone is not None:  # a stream still registered: it has not ended (it unregisters when it does)
            gone[1]()
