"""Every Converse field through the Bedrock app's real converse route, LiteLLM faked behind the
seam: each is translated into what LiteLLM receives, or refused as Bedrock refuses it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from bedrock_runtime.app import create_app
from gateway_core.http import LiteLLMClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.unit.asgi_transport import AsgiTransport

KEY = {"Authorization": "Bearer sk-caller"}
HI = {"role": "user", "content": [{"text": "hi"}]}
ANSWER = {
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": '{"city": "Paris"}'}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    "service_tier": "flex",
    "system_fingerprint": "fp_1",
}
PNG = "iVBORw0KGgo="


async def completions(_: Request) -> Response:
    return JSONResponse(ANSWER)


@pytest.fixture
def gateway() -> tuple[TestClient, AsgiTransport]:
    transport = AsgiTransport(Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])]))
    return TestClient(create_app(litellm=LiteLLMClient(transport))), transport


def converse(gateway: tuple[TestClient, AsgiTransport], body: dict[str, Any]) -> tuple[Any, dict[str, Any] | None]:
    client, transport = gateway
    response = client.post("/bedrock/model/m/converse", json=body, headers=KEY)
    sent = json.loads(transport.requests[-1].content) if transport.requests else None
    return response, sent


def test_output_config_becomes_a_json_schema_response_format(gateway: tuple[TestClient, AsgiTransport]) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    output = {
        "textFormat": {
            "type": "json_schema",
            "structure": {"jsonSchema": {"schema": json.dumps(schema), "name": "place", "description": "A place"}},
        },
        "effort": "low",
    }
    response, sent = converse(gateway, {"messages": [HI], "outputConfig": output})
    assert response.status_code == 200
    assert sent is not None
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "place", "schema": schema, "description": "A place"},
    }
    assert sent["reasoning_effort"] == "low"


def test_service_tier_and_standard_latency_are_passed_and_echoed(gateway: tuple[TestClient, AsgiTransport]) -> None:
    body = {"messages": [HI], "serviceTier": {"type": "flex"}, "performanceConfig": {"latency": "standard"}}
    response, sent = converse(gateway, {**body, "projectIdentifier": "default"})
    assert sent is not None and sent["service_tier"] == "flex"
    assert "performanceConfig" not in sent and "projectIdentifier" not in sent
    answer = response.json()
    assert (answer["serviceTier"], answer["performanceConfig"]) == ({"type": "flex"}, {"latency": "standard"})


def test_additional_response_field_paths_come_from_the_answer(gateway: tuple[TestClient, AsgiTransport]) -> None:
    paths = ["/system_fingerprint", "/not_there", "/choices/0/finish_reason"]  # a missing one skipped, not the end
    response, _ = converse(gateway, {"messages": [HI], "additionalModelResponseFieldPaths": paths})
    assert response.json()["additionalModelResponseFields"] == {
        "system_fingerprint": "fp_1",
        "choices": {"0": {"finish_reason": "stop"}},
    }


def test_tool_result_with_image_document_and_json(gateway: tuple[TestClient, AsgiTransport]) -> None:
    call = {"toolUse": {"toolUseId": "t1", "name": "shot", "input": {}}}
    result = {
        "toolResult": {
            "toolUseId": "t1",
            "content": [
                {"json": {"ok": True}},
                {"image": {"format": "png", "source": {"bytes": PNG}}},
                {"document": {"format": "txt", "name": "log", "source": {"bytes": "aGk="}}},
            ],
        }
    }
    messages = [HI, {"role": "assistant", "content": [call]}, {"role": "user", "content": [result, {"text": "and?"}]}]
    _, sent = converse(gateway, {"messages": messages})
    assert sent is not None
    assert sent["messages"][2:] == [
        {
            "role": "tool",
            "tool_call_id": "t1",
            "content": '{"ok": true}\n[2 attachment(s) returned by the tool follow in the next message]',
        },
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                {"type": "file", "file": {"file_data": "data:text/plain;base64,aGk=", "filename": "log"}},
                {"type": "text", "text": "and?"},
            ],
        },
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"messages": [HI, {"role": "assistant", "content": []}]},
            "The content field in the Message object at messages.1 is empty. "
            "Add a ContentBlock object to the content field and try again.",
        ),
        (
            {"messages": [{"role": "user", "content": [{"text": "a"}, {"text": "  "}]}]},
            "The text field in the ContentBlock object at messages.0.content.1 is blank. "
            "Add text to the text field, and try again.",
        ),
        (
            {"messages": [HI], "system": [{"text": ""}]},  # empty: the model validation's minimum length
            "1 validation error detected: Invalid length for parameter system[0].text, value: 0, valid min length: 1",
        ),
        (
            {"messages": [{"role": "user", "content": [{"cachePoint": {"type": "default"}}]}]},
            "The content field in the Message object at messages.0 holds only cachePoint blocks. "
            "Add a ContentBlock object to the content field and try again.",
        ),
        (
            {"messages": [{"role": "user", "content": [{"reasoningContent": {"reasoningText": {"text": "x"}}}]}]},
            "messages.0.content.0: reasoningContent is allowed only in assistant messages",
        ),
        ({"messages": [HI], "serviceTier": {"type": "reserved"}}, "serviceTier.type must be one of"),
        ({"messages": [HI], "performanceConfig": {"latency": "optimized"}}, "performanceConfig.latency 'optimized'"),
        ({"messages": [HI], "projectIdentifier": "proj-1"}, "projectIdentifier: only 'default'"),
        (
            {"messages": [HI], "additionalModelResponseFieldPaths": ["stop_sequence"]},
            "additionalModelResponseFieldPaths: 'stop_sequence' is not a JSON Pointer",
        ),
        (
            {"messages": [HI], "outputConfig": {"textFormat": {"type": "json_schema"}}},
            '1 validation error detected: Missing required parameter in outputConfig.textFormat: "structure"',
        ),
        (
            {"messages": [HI], "tempurature": 1},
            '1 validation error detected: Unknown parameter in input: "tempurature"',
        ),
    ],
)
def test_refused_as_bedrock_refuses(
    gateway: tuple[TestClient, AsgiTransport], body: dict[str, Any], message: str
) -> None:
    response, sent = converse(gateway, body)
    assert response.status_code == 400 and response.headers["x-amzn-errortype"] == "ValidationException"
    assert response.json()["message"].startswith(message)
    assert sent is None


def test_response_field_paths_are_refused_on_the_stream(gateway: tuple[TestClient, AsgiTransport]) -> None:
    client, transport = gateway
    body = {"messages": [HI], "additionalModelResponseFieldPaths": ["/x"]}
    response = client.post("/bedrock/model/m/converse-stream", json=body, headers=KEY)
    assert response.status_code == 400
    assert response.json() == {
        "message": "additionalModelResponseFieldPaths is served on converse, not on converse-stream"
    }
    assert transport.requests == []
