"""The OpenAI route through its real app and routes, LiteLLM faked in process behind the
transport seam: what LiteLLM receives, and what the client gets back, byte for byte."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator

import anyio
from gateway_core.forwarding import upstream_request
from gateway_core.http import LiteLLMClient
from openai_chat.app import create_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.unit.asgi_transport import AsgiTransport

ANSWER = b'{"id":"c1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}]}'
SSE = [b'data: {"choices":[{"delta":{"content":"h"}}]}\n\n', b'data: {"choices":[{"delta":{"content":"i"}}]}\n\n']
client_saw_first_event = threading.Event()
first_event_seen_in_time: list[bool] = []


async def completions(request: Request) -> Response:
    body = json.loads(await request.body())
    if body.get("stream"):

        async def events() -> AsyncIterator[bytes]:
            yield SSE[0]
            # The rest waits until the client holds the first event: a relay that buffered would
            # deliver nothing until the stream ended, so the wait would time out.
            seen = await anyio.to_thread.run_sync(client_saw_first_event.wait, 5)
            first_event_seen_in_time.append(seen)
            for event in [*SSE[1:], b"data: [DONE]\n\n"]:
                yield event

        return StreamingResponse(events(), media_type="text/event-stream", headers={"x-litellm-call-id": "s1"})
    return Response(ANSWER, media_type="application/json", headers={"x-litellm-call-id": "c1"})


def _client() -> tuple[TestClient, AsgiTransport]:
    transport = AsgiTransport(Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])]))
    return TestClient(create_app(litellm=LiteLLMClient(transport))), transport


def test_plain_request_reaches_litellm_byte_for_byte_with_the_callers_key() -> None:
    client, transport = _client()
    raw = b'{"model": "m",  "messages": [{"role": "user", "content": "hi"}], "x_unknown": [1]}'
    response = client.post("/v1/chat/completions", content=raw, headers={"Authorization": "Bearer sk-caller"})
    assert response.status_code == 200
    assert response.content == ANSWER
    assert response.headers["x-litellm-call-id"] == "c1"
    (sent,) = transport.requests
    assert (sent.method, sent.path, sent.content) == ("POST", "/v1/chat/completions", raw)
    headers = dict(sent.headers)
    assert headers["authorization"] == "Bearer sk-caller"
    assert headers["accept-encoding"] == "identity"
    assert "host" not in headers and "content-length" not in headers


def test_stream_is_relayed_as_it_is_produced() -> None:
    client, _ = _client()
    client_saw_first_event.clear()
    first_event_seen_in_time.clear()
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    received = b""
    with client.stream("POST", "/v1/chat/completions", json=body, headers={"Authorization": "Bearer k"}) as response:
        for chunk in response.iter_raw():
            received += chunk
            if received.startswith(SSE[0]):
                client_saw_first_event.set()
    assert first_event_seen_in_time == [True]
    assert received == b"".join([*SSE, b"data: [DONE]\n\n"])


def test_query_and_repeated_headers_reach_litellm_as_sent_and_hop_by_hop_ones_do_not() -> None:
    client, transport = _client()
    response = client.post(
        "/v1/chat/completions?api-version=2024-10-21&x=a%20b",
        content=b'{"model": "m", "messages": []}',
        headers=[
            ("Authorization", "Bearer sk-caller"),
            ("X-Tag", "one"),
            ("X-Tag", "two"),
            ("Connection", "keep-alive"),
            ("TE", "trailers"),
            ("Accept-Encoding", "gzip"),
        ],
    )
    assert response.status_code == 200
    (sent,) = transport.requests
    assert sent.path == "/v1/chat/completions?api-version=2024-10-21&x=a%20b"
    assert [v for k, v in sent.headers if k == "x-tag"] == ["one", "two"]
    names = [k for k, _ in sent.headers]
    assert "connection" not in names and "te" not in names
    assert [v for k, v in sent.headers if k == "accept-encoding"] == ["identity"]


def test_a_decoded_question_mark_or_hash_in_the_path_stays_in_the_path() -> None:
    request = Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/key/info?x#y\\z",
            "query_string": b"key=1",
            "headers": [(b"authorization", b"Bearer sk-1")],
        }
    )
    sent = upstream_request(request, b"")
    assert (sent.method, sent.path, sent.headers) == (
        "GET",
        "/key/info%3Fx%23y%5Cz?key=1",
        [("authorization", "Bearer sk-1"), ("accept-encoding", "identity")],
    )
    assert upstream_request(request, b"", "/v1/other").path == "/v1/other?key=1"
