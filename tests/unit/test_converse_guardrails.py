"""guardrailConfig through the real converse routes, LiteLLM faked behind the seam: the Bedrock
guardrail selects the LiteLLM guardrail mapped to it, a block becomes Bedrock's
guardrail_intervened answer (with its trace when asked), and an unmapped guardrail is refused."""

from __future__ import annotations

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

KEY = {"Authorization": "Bearer sk-caller"}
GUARD = {"guardrailIdentifier": "gr1", "guardrailVersion": "2", "trace": "enabled"}
LISTED = {
    "guardrails": [
        {"guardrail_name": "other", "guardrail_info": {"bedrock_guardrail": {"identifier": "gr1", "version": "1"}}},
        {
            "guardrail_name": "no-secrets",
            "guardrail_info": {"bedrock_guardrail": {"identifier": "gr1", "version": 2, "blocked_message": "Nope."}},
        },
    ]
}
BLOCK = "Content blocked: keyword 'secret' detected"


async def listing(_: Request) -> Response:
    return JSONResponse(LISTED)


async def completions(request: Request) -> Response:
    body = json.loads(await request.body())
    if "no-secrets" in body.get("guardrails", []) and "secret" in json.dumps(body["messages"]):
        return JSONResponse({"error": {"message": BLOCK, "type": "None", "param": "None", "code": "400"}}, 400)
    answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}
    return JSONResponse({**answer, "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})


@pytest.fixture
def gateway() -> Iterator[tuple[TestClient, AsgiTransport]]:
    guardrails._cache = None
    routes = [
        Route("/guardrails/list", listing, methods=["GET"]),
        Route("/v1/chat/completions", completions, methods=["POST"]),
    ]
    transport = AsgiTransport(Starlette(routes=routes))
    yield TestClient(create_app(litellm=LiteLLMClient(transport))), transport
    guardrails._cache = None


def _body(text: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": [{"text": text}]}], **extra}


def test_the_mapped_litellm_guardrail_is_requested(gateway: tuple[TestClient, AsgiTransport]) -> None:
    client, transport = gateway
    response = client.post("/bedrock/model/m/converse", json=_body("hello", guardrailConfig=GUARD), headers=KEY)
    assert response.json()["stopReason"] == "end_turn"
    assert json.loads(transport.requests[-1].content)["guardrails"] == ["no-secrets"]


def test_a_block_is_guardrail_intervened_with_its_trace(gateway: tuple[TestClient, AsgiTransport]) -> None:
    client, _ = gateway
    response = client.post("/bedrock/model/m/converse", json=_body("a secret", guardrailConfig=GUARD), headers=KEY)
    assert response.status_code == 200
    answer = response.json()
    assert answer["output"] == {"message": {"role": "assistant", "content": [{"text": "Nope."}]}}
    assert answer["stopReason"] == "guardrail_intervened"
    assert answer["trace"] == {"guardrail": {"inputAssessment": {"gr1": {}}, "actionReason": BLOCK}}
    untraced = client.post(
        "/bedrock/model/m/converse", json=_body("a secret", guardrailConfig={**GUARD, "trace": "disabled"}), headers=KEY
    )
    assert "trace" not in untraced.json()


def test_a_block_on_the_stream_is_events_ending_guardrail_intervened(gateway: tuple[TestClient, AsgiTransport]) -> None:
    client, _ = gateway
    response = client.post("/bedrock/model/m/converse-stream", json=_body("secret", guardrailConfig=GUARD), headers=KEY)
    buffer = EventStreamBuffer()
    buffer.add_data(response.content)
    events = [(m.headers[":event-type"], json.loads(m.payload)) for m in buffer]
    assert [name for name, _ in events] == [
        "messageStart",
        "contentBlockDelta",
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    assert events[1][1]["delta"] == {"text": "Nope."}
    assert events[3][1] == {"stopReason": "guardrail_intervened"}
    assert events[4][1]["trace"]["guardrail"]["actionReason"] == BLOCK


def test_without_guardrail_config_no_guardrail_is_requested(gateway: tuple[TestClient, AsgiTransport]) -> None:
    client, transport = gateway
    assert (
        client.post("/bedrock/model/m/converse", json=_body("secret"), headers=KEY).json()["stopReason"] == "end_turn"
    )
    assert "guardrails" not in json.loads(transport.requests[-1].content)


def test_an_unmapped_guardrail_is_refused_with_how_to_configure_one(gateway: tuple[TestClient, AsgiTransport]) -> None:
    client, transport = gateway
    unknown = {"guardrailIdentifier": "gr9", "guardrailVersion": "1"}
    response = client.post("/bedrock/model/m/converse", json=_body("hi", guardrailConfig=unknown), headers=KEY)
    assert response.status_code == 400 and response.headers["x-amzn-errortype"] == "ValidationException"
    message = response.json()["message"]
    assert message.startswith("Guardrail gr9 version 1 is not configured on this gateway.")
    assert 'guardrail_info: {bedrock_guardrail: {identifier: gr9, version: "1"}}' in message
    assert [r.path for r in transport.requests] == ["/guardrails/list"]
