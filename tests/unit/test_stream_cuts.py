"""LiteLLM going away after a Bedrock stream started (the connection drops mid-stream): the client
sees the frames already translated, then one modeled exception frame, on every streaming route
(ConverseStream and both InvokeModel streams). The fake LiteLLM's stream raises after its first
event; the in-process transport reports that as the real one does (UpstreamUnavailableError)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from bedrock_runtime.app import create_app
from botocore.eventstream import EventStreamBuffer, EventStreamMessage
from gateway_core.http import LiteLLMClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.unit.asgi_transport import AsgiTransport

KEY = {"Authorization": "Bearer sk-caller"}
CHAT_FIRST = b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}\n\n'
START = {"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": [], "usage": {}}
ANTHROPIC_FIRST = f"event: message_start\ndata: {json.dumps({'type': 'message_start', 'message': START})}\n\n".encode()
CUT = {  # what the client reads after the frames already sent
    "headers": {":message-type": "exception", ":exception-type": "serviceUnavailableException"},
    "payload": {"message": "LiteLLM is unreachable (ServerDisconnectedError)"},
}


class ConnectionDropped(Exception):
    """Raised inside the fake LiteLLM's stream: the in-process transport sees a dropped connection."""


def _cut_after(first: bytes) -> Any:
    async def route(request: Request) -> Response:
        async def events() -> AsyncIterator[bytes]:
            yield first
            raise ConnectionDropped

        return StreamingResponse(events(), media_type="text/event-stream")

    return route


@pytest.fixture
def client() -> TestClient:
    routes = [
        Route("/v1/chat/completions", _cut_after(CHAT_FIRST), methods=["POST"]),
        Route("/v1/messages", _cut_after(ANTHROPIC_FIRST), methods=["POST"]),
    ]
    return TestClient(create_app(litellm=LiteLLMClient(AsgiTransport(Starlette(routes=routes)))))


def _messages(raw: bytes) -> list[EventStreamMessage]:
    buffer = EventStreamBuffer()
    buffer.add_data(raw)
    return list(buffer)


def _cut(message: EventStreamMessage) -> dict[str, Any]:
    headers = {k: v for k, v in message.headers.items() if k in {":message-type", ":exception-type"}}
    return {"headers": headers, "payload": json.loads(message.payload)}


def _chunk(message: EventStreamMessage) -> Any:
    assert message.headers[":event-type"] == "chunk"
    return json.loads(base64.b64decode(json.loads(message.payload)["bytes"]))


def test_converse_stream_cut_ends_with_a_service_unavailable_frame(client: TestClient) -> None:
    body = {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}
    response = client.post("/bedrock/model/m/converse-stream", json=body, headers=KEY)
    assert response.status_code == 200
    *events, last = _messages(response.content)
    assert [(m.headers[":event-type"], json.loads(m.payload)) for m in events] == [
        ("messageStart", {"role": "assistant"}),
        ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hel"}}),
    ]
    assert _cut(last) == CUT


def test_invoke_stream_cut_in_novas_format_ends_with_a_service_unavailable_frame(client: TestClient) -> None:
    body = {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}
    response = client.post("/bedrock/model/nova/invoke-with-response-stream", json=body, headers=KEY)
    assert response.status_code == 200
    *events, last = _messages(response.content)
    assert [_chunk(m) for m in events] == [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "Hel"}}},
    ]
    assert _cut(last) == CUT


def test_invoke_stream_cut_in_anthropics_format_ends_with_a_service_unavailable_frame(client: TestClient) -> None:
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    response = client.post("/bedrock/model/m/invoke-with-response-stream", json=body, headers=KEY)
    assert response.status_code == 200
    *events, last = _messages(response.content)
    assert [_chunk(m)["type"] for m in events] == ["message_start"]
    assert _cut(last) == CUT
