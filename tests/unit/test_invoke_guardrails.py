"""Bedrock's guardrail headers on InvokeModel and its stream (the app's real routes, LiteLLM faked):
the mapped LiteLLM guardrail is requested on /v1/messages, the outcome is reported in the body as
Bedrock does (``amazon-bedrock-guardrailAction``, ``amazon-bedrock-trace``), a block is a 200 with
the guardrail's message, and what cannot be guarded is refused."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from bedrock_runtime.app import create_app
from botocore.eventstream import EventStreamBuffer
from gateway_core.converse import guardrails
from gateway_core.http import LiteLLMClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.unit.asgi_transport import AsgiTransport
from tests.unit.fake_litellm import anthropic_answer, anthropic_message
from tests.unit.test_converse_guardrails import BLOCK, LISTED

KEY = {"Authorization": "Bearer sk-caller"}
GUARD = {
    "X-Amzn-Bedrock-GuardrailIdentifier": "gr1",
    "X-Amzn-Bedrock-GuardrailVersion": "2",
    "X-Amzn-Bedrock-Trace": "ENABLED",
}
NOTHING_FOUND = {"guardrail": {"inputAssessment": {"gr1": {}}}}
BLOCKED_TRACE = {"guardrail": {"inputAssessment": {"gr1": {}}, "actionReason": BLOCK}}


def claude(text: str) -> dict[str, Any]:
    return {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 9, "messages": [{"role": "user", "content": text}]}


async def listing(_: Request) -> Response:
    return JSONResponse(LISTED)


async def messages(request: Request) -> Response:
    body = json.loads(await request.body())
    if "no-secrets" in body.get("guardrails", []) and "secret" in json.dumps(body["messages"]):
        return JSONResponse({"error": {"message": BLOCK, "type": "None", "param": "None", "code": "400"}}, 400)
    return anthropic_answer(anthropic_message("ok", body["model"]), bool(body.get("stream")))


@pytest.fixture
def gateway() -> Iterator[tuple[TestClient, AsgiTransport]]:
    guardrails._cache = None
    routes = [Route("/guardrails/list", listing, methods=["GET"]), Route("/v1/messages", messages, methods=["POST"])]
    transport = AsgiTransport(Starlette(routes=routes))
    yield TestClient(create_app(litellm=LiteLLMClient(transport))), transport
    guardrails._cache = None


def chunks(raw: bytes) -> list[dict[str, Any]]:
    buffer = EventStreamBuffer()
    buffer.add_data(raw)
    return [json.loads(base64.b64decode(json.loads(message.payload)["bytes"])) for message in buffer]


def test_the_mapped_guardrail_is_requested_and_its_outcome_reported(
    gateway: tuple[TestClient, AsgiTransport],
) -> None:
    client, transport = gateway
    response = client.post("/bedrock/model/m/invoke", json=claude("hello"), headers={**KEY, **GUARD})
    assert response.status_code == 200, response.text
    assert json.loads(transport.requests[-1].content)["guardrails"] == ["no-secrets"]
    assert response.json() == {
        **anthropic_message("ok", "m"),
        "amazon-bedrock-guardrailAction": "NONE",
        "amazon-bedrock-trace": NOTHING_FOUND,
    }
    untraced = {**GUARD, "X-Amzn-Bedrock-Trace": "DISABLED"}
    response = client.post("/bedrock/model/m/invoke", json=claude("hello"), headers={**KEY, **untraced})
    assert response.json() == {**anthropic_message("ok", "m"), "amazon-bedrock-guardrailAction": "NONE"}
    response = client.post("/bedrock/model/m/invoke", json=claude("hello"), headers=KEY)
    assert response.json() == anthropic_message("ok", "m")  # no guardrail asked for: nothing added
    assert "guardrails" not in json.loads(transport.requests[-1].content)


def test_a_block_is_a_200_with_the_guardrails_message(gateway: tuple[TestClient, AsgiTransport]) -> None:
    client, _ = gateway
    response = client.post("/bedrock/model/m/invoke", json=claude("a secret"), headers={**KEY, **GUARD})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer.pop("id").startswith("msg_")
    assert answer == {
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": [{"type": "text", "text": "Nope."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 0, "output_tokens": 0},
        "amazon-bedrock-guardrailAction": "INTERVENED",
        "amazon-bedrock-trace": BLOCKED_TRACE,
    }
    assert (
        response.headers["x-amzn-bedrock-input-token-count"],
        response.headers["x-amzn-bedrock-output-token-count"],
    ) == (
        "0",
        "0",
    )


def test_a_blocked_stream_is_the_guardrails_message_as_events(gateway: tuple[TestClient, AsgiTransport]) -> None:
    client, _ = gateway
    response = client.post(
        "/bedrock/model/m/invoke-with-response-stream", json=claude("a secret"), headers={**KEY, **GUARD}
    )
    assert response.status_code == 200, response.text
    events = chunks(response.content)
    assert [event["type"] for event in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[2]["delta"] == {"type": "text_delta", "text": "Nope."}
    assert events[4]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    stop = events[-1]
    metrics = stop.pop("amazon-bedrock-invocationMetrics")
    assert (metrics["inputTokenCount"], metrics["outputTokenCount"]) == (0, 0)
    assert stop == {
        "type": "message_stop",
        "amazon-bedrock-guardrailAction": "INTERVENED",
        "amazon-bedrock-trace": BLOCKED_TRACE,
    }


def test_an_unblocked_stream_reports_the_outcome_on_message_stop(gateway: tuple[TestClient, AsgiTransport]) -> None:
    client, transport = gateway
    response = client.post(
        "/bedrock/model/m/invoke-with-response-stream", json=claude("hello"), headers={**KEY, **GUARD}
    )
    events = chunks(response.content)
    assert json.loads(transport.requests[-1].content)["guardrails"] == ["no-secrets"]
    assert events[2]["delta"] == {"type": "text_delta", "text": "ok"}
    stop = events[-1]
    stop.pop("amazon-bedrock-invocationMetrics")
    assert stop == {
        "type": "message_stop",
        "amazon-bedrock-guardrailAction": "NONE",
        "amazon-bedrock-trace": NOTHING_FOUND,
    }


NOVA = {"schemaVersion": "messages-v1", "messages": [{"role": "user", "content": [{"text": "hi"}]}]}


@pytest.mark.parametrize("route", ["invoke", "invoke-with-response-stream"])
@pytest.mark.parametrize(
    ("body", "headers", "message"),
    [
        (
            claude("hi"),
            {**GUARD, "X-Amzn-Bedrock-GuardrailIdentifier": "grnone"},
            "Guardrail grnone version 2 is not configured on this gateway. Configure a LiteLLM guardrail in "
            "ecs_litellm/config.yaml (guardrails:) with guardrail_info: {bedrock_guardrail: "
            '{identifier: grnone, version: "2"}}; it then applies on every provider.',
        ),
        (
            NOVA,
            GUARD,
            "Guardrail headers on InvokeModel are applied to Anthropic Messages bodies and managed prompts; "
            "for this body use Converse with guardrailConfig",
        ),
        (
            claude("hi"),
            {"X-Amzn-Bedrock-GuardrailVersion": "2"},
            "X-Amzn-Bedrock-GuardrailVersion needs X-Amzn-Bedrock-GuardrailIdentifier",
        ),
        (
            claude("hi"),
            {"X-Amzn-Bedrock-GuardrailIdentifier": "gr1"},
            "X-Amzn-Bedrock-GuardrailIdentifier needs X-Amzn-Bedrock-GuardrailVersion",
        ),
        (
            claude("hi"),
            {**GUARD, "X-Amzn-Bedrock-Trace": "LOUD"},
            "X-Amzn-Bedrock-Trace must be ENABLED, DISABLED or ENABLED_FULL",
        ),
    ],
)
def test_what_cannot_be_guarded_is_refused(
    gateway: tuple[TestClient, AsgiTransport], route: str, body: dict[str, Any], headers: dict[str, str], message: str
) -> None:
    client, transport = gateway
    response = client.post(f"/bedrock/model/m/{route}", json=body, headers={**KEY, **headers})
    assert (response.status_code, response.headers["x-amzn-errortype"]) == (400, "ValidationException")
    assert response.json() == {"message": message}
    assert [request.path for request in transport.requests if request.path != "/guardrails/list"] == []
