"""Hostile bodies are 400s in the route's shape, refused before any upstream work.

The fuzzing against the real stack is tests/integration/test_hardening.py; these pin the exact
answers of the parser and of the Converse validation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from bedrock_runtime.app import create_app as bedrock_app
from gateway_core.bodies import parse_json
from gateway_core.converse.request import converse_to_openai
from gateway_core.converse.validation import validate_converse
from gateway_core.errors import InvalidRequestError
from gateway_core.http import LiteLLMClient
from openai_chat.app import create_app as openai_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.unit.asgi_transport import AsgiTransport

USER = {"role": "user", "content": [{"text": "hi"}]}
ANSWER = {"choices": [{"message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}], "usage": {}}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "Request body nests deeper than 64 levels"),
        (b'{"a":' * 65 + b"1" + b"}" * 65, "Request body nests deeper than 64 levels"),
        (b'{"a": ' + b"9" * 5000 + b"}", "Request body has an integer of more than 64 digits"),
        (b'{"a": -' + b"9" * 65 + b"}", "Request body has an integer of more than 64 digits"),
        (b'{"a": NaN}', "Request body has NaN, which is not JSON"),
        (b'{"a": [Infinity]}', "Request body has Infinity, which is not JSON"),
        (b'{"a": 1e999}', "Request body has a number out of range: 1e999"),
        (b'{"id": "\\ud800"}', "Request body has a string with a lone UTF-16 surrogate"),
        (b'{"\\udfff": 1}', "Request body has a key with a lone UTF-16 surrogate"),
    ],
)
def test_pathological_json_is_refused_with_the_reason(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_json(raw)
    assert caught.value.message == message


def test_what_json_allows_within_the_limits_still_parses() -> None:
    assert parse_json(b'{"a":' * 63 + b"[1]" + b"}" * 63) is not None
    assert parse_json(b'{"n": ' + b"9" * 64 + b', "e": "\\ud83d\\ude00", "f": 1.5e300}') == {
        "n": int("9" * 64),
        "e": "\U0001f600",
        "f": 1.5e300,
    }


def test_a_body_is_read_as_json_loads_reads_bytes() -> None:
    """UTF-8 (with or without its BOM), UTF-16 and UTF-32 by their first bytes, as RFC 8259's
    predecessors allowed and json.loads reads them; bytes that are none of them are a 400."""
    text = '{"q": "caf\u00e9 \U0001f600"}'
    expected = {"q": "caf\u00e9 \U0001f600"}
    for encoding in ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32-be"):
        assert parse_json(text.encode(encoding)) == expected, encoding
    with pytest.raises(InvalidRequestError) as caught:
        parse_json(b'{"q": "\xff"}')
    assert caught.value.message.startswith("Request body is not valid JSON: 'utf-8' codec can't decode byte 0xff")


# boto3's wire form: blobs as base64 text, documents as JSON, numbers as JSON numbers.
BOTO3_CONVERSE_BODY = {
    "messages": [
        {
            "role": "user",
            "content": [{"text": "hi"}, {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}}],
        },
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t-1", "name": "get", "input": {"q": [1]}}}]},
        {"role": "user", "content": [{"toolResult": {"toolUseId": "t-1", "content": [{"json": {"ok": True}}]}}]},
    ],
    "system": [{"text": "rules"}, {"cachePoint": {"type": "default"}}],
    "inferenceConfig": {"maxTokens": 10, "temperature": 1, "topP": 0.5, "stopSequences": ["x"]},
    "toolConfig": {"tools": [{"toolSpec": {"name": "get", "inputSchema": {"json": {"type": "object"}}}}]},
    "additionalModelRequestFields": {"top_k": 7, "enable_history": True},
    "requestMetadata": {"team": "a"},
}


def test_what_boto3_sends_passes_validation() -> None:
    validate_converse(dict(BOTO3_CONVERSE_BODY), "fake-gpt", stream=True)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"messages": [{"role": "robot", "content": [{"text": "x"}]}]},
            "1 validation error detected: Invalid value for parameter messages[0].role, value: robot, "
            "valid values: user, assistant, system",
        ),
        (
            {"messages": [USER], "inferenceConfig": {"temperature": "hot", "maxTokens": True}},
            "2 validation errors detected: Invalid type for parameter inferenceConfig.temperature, value: hot, "
            "type: <class 'str'>, valid types: int, float; Invalid type for parameter inferenceConfig.maxTokens, "
            "value: True, type: <class 'bool'>, valid types: int",
        ),
        (
            {"messages": [{"role": "user", "content": [{"image": {"format": "png", "source": {"bytes": "@@"}}}]}]},
            "1 validation error detected: Invalid value for parameter "
            "messages[0].content[0].image.source.bytes: blobs travel as base64 text",
        ),
        (
            {"messages": [{"role": "user", "content": [{"toolResult": {"toolUseId": "\ud800", "content": []}}]}]},
            "1 validation error detected: Invalid value for parameter "
            "messages[0].content[0].toolResult.toolUseId: must match [a-zA-Z0-9_.:-]+",
        ),
        (
            {"messages": [USER], "inferenceConfig": {"topP": 1.5}},
            "1 validation error detected: Invalid value for parameter inferenceConfig.topP, value: 1.5, valid max: 1",
        ),
    ],
)
def test_converse_violations_name_the_field_path(body: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        validate_converse(body, "fake-gpt", stream=False)
    assert caught.value.message == message


def test_at_most_ten_violations_are_listed() -> None:
    body = {"messages": [{"role": "robot", "content": [{"text": "x"}]}] * 12}
    with pytest.raises(InvalidRequestError) as caught:
        validate_converse(body, "fake-gpt", stream=False)
    assert caught.value.message.startswith("12 validation errors detected: ")
    assert caught.value.message.endswith("; ... and 2 more")


@pytest.mark.parametrize("field", ["stream", "messages", "model", "tools", "max_tokens"])
def test_additional_fields_may_not_override_what_the_gateway_sets(field: str) -> None:
    body = {"messages": [USER], "additionalModelRequestFields": {field: True}}
    with pytest.raises(InvalidRequestError, match=rf"^additionalModelRequestFields\.{field} is set by the gateway"):
        converse_to_openai("m", body, stream=False)


class Upstream:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def completions(self, request: Request) -> Response:
        self.calls.append(request.url.path)
        return JSONResponse(ANSWER)

    def app(self) -> Starlette:
        routes = [
            Route("/v1/chat/completions", self.completions, methods=["POST"]),
            Route("/key/info", self.completions, methods=["GET"]),
        ]
        return Starlette(routes=routes)


def _bedrock() -> tuple[TestClient, Upstream]:
    upstream = Upstream()
    return TestClient(bedrock_app(litellm=LiteLLMClient(AsgiTransport(upstream.app())))), upstream


def test_bedrock_route_answers_violations_as_validation_exceptions_without_calling_litellm() -> None:
    client, upstream = _bedrock()
    bad = {"messages": [{"role": "user", "content": [{"text": 5}]}]}
    response = client.post("/bedrock/model/m/converse", json=bad, headers={"Authorization": "Bearer sk-a"})
    assert response.status_code == 400
    assert response.headers["x-amzn-ErrorType"] == "ValidationException"
    assert response.json() == {
        "message": "1 validation error detected: Invalid type for parameter messages[0].content[0].text, "
        "value: 5, type: <class 'int'>, valid types: <class 'str'>"
    }
    deep = b'{"messages": ' + b"[" * 100 + b"]" * 100 + b"}"
    response = client.post("/bedrock/model/m/converse-stream", content=deep, headers={"Authorization": "Bearer sk-a"})
    assert (response.status_code, response.headers["x-amzn-ErrorType"]) == (400, "ValidationException")
    assert upstream.calls == []
    ok = client.post("/bedrock/model/m/converse", json={"messages": [USER]}, headers={"Authorization": "Bearer sk-a"})
    assert ok.status_code == 200 and upstream.calls == ["/v1/chat/completions"]


def test_no_key_no_work_on_either_interface() -> None:
    client, upstream = _bedrock()
    prompt = "arn:aws:bedrock:us-east-1:123456789012:prompt/ABCDEFGHIJ"
    response = client.post(f"/bedrock/model/{prompt}/converse", json={"messages": [USER]})
    assert (response.status_code, response.headers["x-amzn-ErrorType"]) == (403, "AccessDeniedException")
    openai_upstream = Upstream()
    openai = TestClient(openai_app(litellm=LiteLLMClient(AsgiTransport(openai_upstream.app()))))
    response = openai.post("/v1/chat/completions", json={"model": prompt, "messages": []})
    assert response.status_code == 401 and response.json()["error"]["type"] == "authentication_error"
    assert upstream.calls == [] and openai_upstream.calls == []


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": 5, "messages": []}, "model"),
        ({"model": "m", "stream": True, "stream_options": "x"}, "stream_options"),
    ],
)
def test_openai_route_type_checks_the_fields_it_reads(body: dict[str, Any], param: str) -> None:
    upstream = Upstream()
    client = TestClient(openai_app(litellm=LiteLLMClient(AsgiTransport(upstream.app()))))
    response = client.post("/v1/chat/completions", content=json.dumps(body), headers={"Authorization": "Bearer k"})
    assert response.status_code == 400 and response.json()["error"]["param"] == param
    assert upstream.calls == []


def test_bodies_past_ten_megabytes_are_413_in_each_interfaces_shape() -> None:
    too_big = b'{"messages": ["' + b"x" * (10 * 1024 * 1024) + b'"]}'
    client, upstream = _bedrock()
    response = client.post("/bedrock/model/m/converse", content=too_big, headers={"Authorization": "Bearer sk-a"})
    assert (response.status_code, response.headers["x-amzn-ErrorType"]) == (413, "ValidationException")
    assert response.json() == {"message": "Request body is larger than 10485760 bytes, the gateway's limit"}
    openai = TestClient(openai_app(litellm=LiteLLMClient(AsgiTransport(upstream.app()))))

    def chunks() -> Iterator[bytes]:  # no content-length: counted as it arrives
        for start in range(0, len(too_big), 1 << 20):
            yield too_big[start : start + (1 << 20)]

    response = openai.post("/v1/chat/completions", content=chunks(), headers={"Authorization": "Bearer sk-a"})
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"
    assert upstream.calls == []
