"""The local gateway's GET /health: a component is ready when it answers HTTP without a server
error (DynamoDB answers a bare GET with 400), unavailable when it answers 5xx or not at all.
Real HTTP servers on 127.0.0.1 stand for the components."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from local.gateway import create_gateway


def _server(status: int) -> ThreadingHTTPServer:
    class Answer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    # shutdown() returns at the loop's next poll: 0.5 s by default, for each of the three servers.
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


@pytest.fixture
def components() -> Iterator[dict[str, str]]:
    servers = {name: _server(status) for name, status in (("ok", 200), ("dynamodb", 400), ("broken", 500))}
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: refused
        urls = {name: f"http://127.0.0.1:{s.server_address[1]}/" for name, s in servers.items()}
        urls["down"] = f"http://127.0.0.1:{closed.getsockname()[1]}/"
        yield urls
    for server in servers.values():
        server.shutdown()
        server.server_close()


async def _health(urls: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_gateway(urls))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        return await client.get("/health")


def test_any_answer_below_500_is_ready(components: dict[str, str]) -> None:
    response = asyncio.run(_health({name: components[name] for name in ("ok", "dynamodb")}))
    assert (response.status_code, response.json()) == (
        200,
        {"status": "ready", "components": {"ok": "ready", "dynamodb": "ready"}},
    )


def test_a_server_error_or_no_answer_is_unavailable(components: dict[str, str]) -> None:
    response = asyncio.run(_health(components))
    assert (response.status_code, response.json()) == (
        503,
        {
            "status": "starting",
            "components": {"ok": "ready", "dynamodb": "ready", "broken": "unavailable", "down": "unavailable"},
        },
    )
