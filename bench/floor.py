"""Two floors for section 1c: what any Python relay in the function's place costs, before our app.

* ``splice``: a process that copies bytes between the client and the fake provider (uvloop,
  asyncio protocols, no HTTP at all): the price of one more loopback hop through a Python process.
* ``app``: a bare ASGI relay served as run.sh serves the functions (uvicorn, httptools, uvloop,
  ``gateway_core.server``) and sending through the functions' own upstream client
  (``gateway_core.h1_transport``), with no Starlette, middleware, validation, logs or metrics:
  the price of the server and the client we chose.

The function's time over the bare relay is then our app's own (routing, validation, the access
log, metrics, usage accounting). Neither floor is a product: no auth, no limits, no error shapes.

    python -m bench.floor splice UPSTREAM_PORT PORT
    uvicorn ... bench.floor:app        (GATEWAY_LITELLM_BASE_URL names the upstream)
"""

from __future__ import annotations

import asyncio
import sys

from gateway_core.h1_transport import Http1Transport
from gateway_core.http import UpstreamRequest
from starlette.types import Receive, Scope, Send

__all__ = ["app", "splice"]

_NOT_SENT = frozenset({b"host", b"content-length", b"connection", b"accept-encoding"})
_NOT_RELAYED = frozenset({"transfer-encoding", "connection", "keep-alive", "content-length", "date"})
_transport: Http1Transport | None = None


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Relay the request to the upstream and its answer back: a stream chunk by chunk."""
    global _transport  # noqa: PLW0603 (one client per process, as a function has)
    if scope["type"] == "lifespan":
        while (await receive())["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["path"] == "/health":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})
        return
    if _transport is None:
        _transport = Http1Transport()
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"] if k not in _NOT_SENT]
    headers.append(("accept-encoding", "identity"))
    answer = await _transport.send(UpstreamRequest(scope["method"], scope["path"], headers, body))
    back = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers if k not in _NOT_RELAYED]
    if any(k == "content-type" and v.startswith("text/event-stream") for k, v in answer.headers):
        await send({"type": "http.response.start", "status": answer.status_code, "headers": back})
        async for chunk in answer.iter_chunks():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        await answer.close(reuse=answer.at_eof())
        return
    data = await answer.read()
    await answer.close(reuse=True)
    back.append((b"content-length", str(len(data)).encode()))
    await send({"type": "http.response.start", "status": answer.status_code, "headers": back})
    await send({"type": "http.response.body", "body": data})


class _Half(asyncio.Protocol):
    """One side of a spliced connection: what it receives goes out on the other side."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: _Half | None = None
        self.held: list[bytes] = []  # what the client sent before the upstream connection was up

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.write(data)
        else:
            self.held.append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()


async def splice(upstream_port: int, port: int) -> None:
    loop = asyncio.get_running_loop()

    def accepted() -> _Half:
        client = _Half()

        async def connect() -> None:
            _, upstream = await loop.create_connection(_Half, "127.0.0.1", upstream_port)
            upstream.peer, client.peer = client, upstream
            for data in client.held:
                upstream.transport.write(data)  # type: ignore[union-attr]
            client.held.clear()

        loop.create_task(connect())  # noqa: RUF006 (lives as long as the connection)
        return client

    server = await loop.create_server(accepted, "127.0.0.1", port)
    await server.serve_forever()


if __name__ == "__main__":
    import uvloop

    _, command, upstream_port, port = sys.argv
    if command != "splice":
        raise SystemExit("usage: python -m bench.floor splice UPSTREAM_PORT PORT")
    uvloop.run(splice(int(upstream_port), int(port)))
