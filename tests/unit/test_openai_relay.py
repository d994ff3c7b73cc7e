"""The OpenAI route through its real app and routes, LiteLLM faked in process behind the
transport seam: what LiteLLM receives, and what the client gets back, byte for byte."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator

import anyio
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
