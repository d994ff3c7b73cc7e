"""InvokeModel and its stream through the Bedrock app's real routes, LiteLLM faked behind the seam:
each body format reaches the LiteLLM route it belongs to, in the shape that route takes, and the
answers come back in the model's own format (streams as Bedrock's base64 ``chunk`` frames)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from bedrock_runtime.app import create_app
from botocore.eventstream import EventStreamBuffer
from gateway_core.http import LiteLLMClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.unit.asgi_transport import AsgiTransport

KEY = {"Authorization": "Bearer sk-caller"}
CLAUDE = {
    "anthropic_version": "bedrock-2023-05-31",
    "anthropic_beta": ["interleaved-thinking-2025-05-14"],
    "max_tokens": 50,
    "system": "Be brief.",
    "stop_sequences": ["END"],
    "messages": [{"role": "user", "content": "hi"}],
}
MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "m",
    "content": [{"type": "text", "text": "Hello"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10},
}
ANTHROPIC_EVENTS = [
    {"type": "message_start", "message": {**MESSAGE, "content": [], "usage": {"input_tokens": 7, "output_tokens": 1}}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "ping"},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}},
    {"type": "content_block_stop", "index": 0},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 3},
    },
    {"type": "message_stop"},
]
CHAT = {
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi there"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
}


async def messages(request: Request) -> Response:
    body = json.loads(await request.body())
    if not body.get("stream"):
        return JSONResponse(MESSAGE)

    async def events() -> AsyncIterator[bytes]:
        for event in ANTHROPIC_EVENTS:
            yield f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()

    return StreamingResponse(events(), media_type="text/event-stream")


async def completions(request: Request) -> Response:
    body = json.loads(await request.body())
    if not body.get("stream"):
        return JSONResponse(CHAT)

    async def events() -> AsyncIterator[bytes]:
        yield b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"}}]}\n\n'
        yield b'data: {"choices":[{"index":0,"delta":{"content":" there"}}]}\n\n'
        yield b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
        yield b'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}\n\n'
        yield b"data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


async def embeddings(request: Request) -> Response:
    body = json.loads(await request.body())
    data = [{"index": i, "embedding": [3.0, -4.0]} for i, _ in enumerate(body["input"])]
    return JSONResponse({"data": data, "usage": {"prompt_tokens": 4, "total_tokens": 4}})


async def token_counter(request: Request) -> Response:
    body = json.loads(await request.body())
    return JSONResponse({"total_tokens": 11, "request_model": body["model"], "model_used": "m"})


@pytest.fixture
def gateway() -> tuple[TestClient, AsgiTransport]:
    routes = [
        Route("/v1/messages", messages, methods=["POST"]),
        Route("/v1/chat/completions", completions, methods=["POST"]),
        Route("/v1/embeddings", embeddings, methods=["POST"]),
        Route("/utils/token_counter", token_counter, methods=["POST"]),
    ]
    transport = AsgiTransport(Starlette(routes=routes))
    return TestClient(create_app(litellm=LiteLLMClient(transport))), transport


def sent(transport: AsgiTransport) -> tuple[str, dict[str, Any], dict[str, str]]:
    request = transport.requests[-1]
    return request.path, json.loads(request.content), dict(request.headers)


def chunks(raw: bytes) -> list[dict[str, Any]]:
    """The JSON each ``chunk`` frame carries, decoded as the Anthropic SDK's Bedrock client does."""
    buffer = EventStreamBuffer()
    buffer.add_data(raw)
    out = []
    for message in buffer:
        assert message.headers[":message-type"] == "event" and message.headers[":event-type"] == "chunk"
        out.append(json.loads(base64.b64decode(json.loads(message.payload)["bytes"])))
    return out


def test_anthropic_body_goes_to_v1_messages_with_the_model_and_beta_header(
    gateway: tuple[TestClient, AsgiTransport],
) -> None:
    client, transport = gateway
    response = client.post("/bedrock/model/us.anthropic.claude-x/invoke", json=CLAUDE, headers=KEY)
    assert response.status_code == 200
    assert response.json() == {**MESSAGE, "usage": {"input_tokens": 7, "output_tokens": 3}}
    assert response.headers["x-amzn-bedrock-input-token-count"] == "7"
    assert response.headers["x-amzn-bedrock-output-token-count"] == "3"
    path, body, headers = sent(transport)
    assert path == "/v1/messages"
    assert body == {
        "max_tokens": 50,
        "system": "Be brief.",
        "stop_sequences": ["END"],
        "messages": [{"role": "user", "content": "hi"}],
        "model": "us.anthropic.claude-x",
    }
    assert headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    assert headers["authorization"] == "Bearer sk-caller"


def test_anthropic_stream_is_chunk_frames_ending_with_invocation_metrics(
    gateway: tuple[TestClient, AsgiTransport],
) -> None:
    client, transport = gateway
    response = client.post("/bedrock/model/m/invoke-with-response-stream", json=CLAUDE, headers=KEY)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.amazon.eventstream"
    events = chunks(response.content)
    assert sent(transport)[1]["stream"] is True
    expected = [e for e in ANTHROPIC_EVENTS if e["type"] != "ping"]
    assert events[:-1] == expected[:-1]
    metrics = events[-1].pop("amazon-bedrock-invocationMetrics")
    assert events[-1] == {"type": "message_stop"}
    assert (metrics["inputTokenCount"], metrics["outputTokenCount"]) == (7, 3)
    assert 0 <= metrics["firstByteLatency"] <= metrics["invocationLatency"]


def test_nova_body_is_translated_to_chat_and_answers_in_novas_format(
    gateway: tuple[TestClient, AsgiTransport],
) -> None:
    client, transport = gateway
    nova = {
        "schemaVersion": "messages-v1",
        "system": [{"text": "Be brief."}],
        "messages": [{"role": "user", "content": [{"text": "hi"}]}],
        "inferenceConfig": {"max_new_tokens": 20, "top_p": 0.5, "top_k": 4, "temperature": 0.1, "stopSequences": ["X"]},
    }
    response = client.post("/bedrock/model/us.amazon.nova-lite-v1:0/invoke", json=nova, headers=KEY)
    assert response.status_code == 200
    assert response.json() == {
        "output": {"message": {"role": "assistant", "content": [{"text": "Hi there"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 5, "outputTokens": 2, "totalTokens": 7},
    }
    path, body, _ = sent(transport)
    assert path == "/v1/chat/completions"
    assert body == {
        "model": "us.amazon.nova-lite-v1:0",
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        ],
        "max_tokens": 20,
        "top_p": 0.5,
        "temperature": 0.1,
        "stop": ["X"],
        "top_k": 4,
    }


def test_nova_stream_is_converse_events_in_chunk_frames(gateway: tuple[TestClient, AsgiTransport]) -> None:
    client, _ = gateway
    nova = {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}
    response = client.post("/bedrock/model/nova/invoke-with-response-stream", json=nova, headers=KEY)
    events = chunks(response.content)
    metrics = events[-1].pop("amazon-bedrock-invocationMetrics")
    assert events == [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": "Hi"}}},
        {"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": " there"}}},
        {"contentBlockStop": {"contentBlockIndex": 0}},
        {"messageStop": {"stopReason": "end_turn"}},
        {"metadata": {"usage": {"inputTokens": 5, "outputTokens": 2, "totalTokens": 7}}},
    ]
    assert (metrics["inputTokenCount"], metrics["outputTokenCount"]) == (5, 2)


def test_titan_embeddings_normalised_by_default_with_binary_types(gateway: tuple[TestClient, AsgiTransport]) -> None:
    client, transport = gateway
    body = {"inputText": "hello", "dimensions": 256, "embeddingTypes": ["float", "binary"]}
    response = client.post("/bedrock/model/amazon.titan-embed-text-v2:0/invoke", json=body, headers=KEY)
    assert response.json() == {
        "embedding": [0.6, -0.8],
        "embeddingsByType": {"float": [0.6, -0.8], "binary": [1, 0]},
        "inputTextTokenCount": 4,
    }
    assert sent(transport)[:2] == (
        "/v1/embeddings",
        {"model": "amazon.titan-embed-text-v2:0", "input": ["hello"], "dimensions": 256},
    )
    raw = client.post("/bedrock/model/t/invoke", json={"inputText": "hello", "normalize": False}, headers=KEY)
    assert raw.json()["embedding"] == [3.0, -4.0]


def test_cohere_embeddings_in_both_response_types(gateway: tuple[TestClient, AsgiTransport]) -> None:
    client, transport = gateway
    body: dict[str, Any] = {"texts": ["a", "b"], "input_type": "search_query"}
    floats = client.post("/bedrock/model/cohere.embed-english-v3/invoke", json=body, headers=KEY).json()
    assert (floats["embeddings"], floats["texts"], floats["response_type"]) == (
        [[3.0, -4.0], [3.0, -4.0]],
        ["a", "b"],
        "embeddings_floats",
    )
    assert sent(transport)[1] == {"model": "cohere.embed-english-v3", "input": ["a", "b"], "input_type": "search_query"}
    typed = client.post("/bedrock/model/c/invoke", json={**body, "embedding_types": ["float"]}, headers=KEY).json()
    assert (typed["embeddings"], typed["response_type"]) == (
        {"float": [[3.0, -4.0], [3.0, -4.0]]},
        "embeddings_by_type",
    )


@pytest.mark.parametrize(
    ("route", "body", "words"),
    [
        ("invoke", {"prompt": "Human: hi"}, "Supported: Anthropic Messages"),
        ("invoke", {"anthropic_version": "vertex-2023-10-16", "messages": []}, "anthropic_version must be"),
        ("invoke", {"inputText": "x", "embeddingTypes": ["int8"]}, "embeddingTypes"),
        ("invoke", {"texts": ["x"], "input_type": "search_query", "truncate": "END"}, "truncate"),
        ("invoke", {"texts": ["x"], "input_type": "search_query", "images": ["data:"]}, "image"),
        ("invoke", {"messages": [{"role": "user", "content": [{"text": "x"}]}], "guardrail": 1}, "guardrail"),
        ("invoke-with-response-stream", {"inputText": "x"}, "unsupported for streaming"),
        ("invoke", {**CLAUDE, "enable_history": True}, "enable_history is not an Anthropic Messages field: chat"),
        ("invoke-with-response-stream", {**CLAUDE, "session_id": "s"}, "session_id is not an Anthropic Messages"),
        ("invoke", {**CLAUDE, "additionalModelRequestFields": {}}, "history runs on Converse and ConverseStream"),
    ],
)
def test_other_bodies_are_refused_with_a_validation_exception(
    gateway: tuple[TestClient, AsgiTransport], route: str, body: dict[str, Any], words: str
) -> None:
    client, transport = gateway
    response = client.post(f"/bedrock/model/m/{route}", json=body, headers=KEY)
    assert response.status_code == 400
    assert response.headers["x-amzn-errortype"] == "ValidationException"
    assert words in response.json()["message"]
    assert transport.requests == []


def test_count_tokens_sends_converse_input_as_chat_messages(gateway: tuple[TestClient, AsgiTransport]) -> None:
    client, transport = gateway
    converse = {"system": [{"text": "rules"}], "messages": [{"role": "user", "content": [{"text": "hi"}]}]}
    response = client.post("/bedrock/model/m/count-tokens", json={"input": {"converse": converse}}, headers=KEY)
    assert (response.status_code, response.json()) == (200, {"inputTokens": 11})
    assert sent(transport)[:2] == (
        "/utils/token_counter",
        {
            "model": "m",
            "messages": [
                {"role": "system", "content": [{"type": "text", "text": "rules"}]},
                {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            ],
        },
    )


def test_count_tokens_of_an_invoke_model_body(gateway: tuple[TestClient, AsgiTransport]) -> None:
    client, transport = gateway
    raw = base64.b64encode(json.dumps({**CLAUDE, "tools": [{"name": "t", "input_schema": {}}]}).encode()).decode()
    response = client.post("/bedrock/model/m/count-tokens", json={"input": {"invokeModel": {"body": raw}}}, headers=KEY)
    assert response.json() == {"inputTokens": 11}
    assert sent(transport)[1] == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "system": "Be brief.",
        "tools": [{"name": "t", "input_schema": {}}],
    }
    titan = base64.b64encode(b'{"inputText": "a b c"}').decode()
    client.post("/bedrock/model/e/count-tokens", json={"input": {"invokeModel": {"body": titan}}}, headers=KEY)
    assert sent(transport)[1] == {"model": "e", "prompt": "a b c"}


@pytest.mark.parametrize(
    "body",
    [{}, {"input": {"converse": {}, "invokeModel": {}}}, {"input": {"invokeModel": {"body": "%%%"}}}],
)
def test_count_tokens_refuses_malformed_input(gateway: tuple[TestClient, AsgiTransport], body: dict[str, Any]) -> None:
    client, transport = gateway
    response = client.post("/bedrock/model/m/count-tokens", json=body, headers=KEY)
    assert (response.status_code, response.headers["x-amzn-errortype"]) == (400, "ValidationException")
    assert transport.requests == []
