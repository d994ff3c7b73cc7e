"""The Converse routes where their answers are made (bedrock_runtime.converse), LiteLLM faked
behind the seam: latency measured around LiteLLM, the event-stream media type and request id on
every stream, a stream that fails after it started ending in Bedrock's exception frame, the
echoed options in the stream's metadata, and errors a guardrail did not cause staying errors."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from bedrock_runtime import converse
from bedrock_runtime.app import create_app
from botocore.eventstream import EventStreamBuffer
from gateway_core.converse.errors import from_gateway_error
from gateway_core.converse.options import request_options
from gateway_core.converse.validation import validate_converse
from gateway_core.errors import (
    AuthenticationError,
    GatewayError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    UpstreamTimeoutError,
)
from gateway_core.http import LiteLLMClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.unit.asgi_transport import AsgiTransport
from tests.unit.conftest import FakeClock
from tests.unit.fake_litellm import FakeLiteLLM

KEY = {"Authorization": "Bearer sk-caller"}
HI = {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}
EVENT_STREAM = "application/vnd.amazon.eventstream"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
CHUNK = {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]}


def frames(raw: bytes) -> list[tuple[str, str, dict[str, Any]]]:
    """(message type, event or exception type, payload) of each frame, decoded by botocore."""
    buffer = EventStreamBuffer()
    buffer.add_data(raw)
    out = []
    for message in buffer:
        kind = str(message.headers[":message-type"])
        name = message.headers[":event-type" if kind == "event" else ":exception-type"]
        out.append((kind, str(name), json.loads(message.payload)))
    return out


def streaming_litellm(events: Any) -> TestClient:
    """A LiteLLM whose chat stream is ``events()`` (an async generator of SSE bytes)."""

    async def completions(_: Request) -> Response:
        return StreamingResponse(events(), media_type="text/event-stream")

    upstream = Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])
    return TestClient(create_app(litellm=LiteLLMClient(AsgiTransport(upstream))))


def test_latency_is_measured_around_the_model_in_milliseconds(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(converse, "time", SimpleNamespace(perf_counter=clock))
    litellm = FakeLiteLLM(thinking=lambda: clock.advance(2.5))
    response = TestClient(create_app(litellm=litellm.client())).post("/bedrock/model/m/converse", json=HI, headers=KEY)
    assert response.json()["metrics"] == {"latencyMs": 2500}


def test_a_stream_is_an_event_stream_with_a_request_id_and_echoes_options_in_its_metadata() -> None:
    client = TestClient(create_app(litellm=FakeLiteLLM().client()))
    body = {**HI, "serviceTier": {"type": "flex"}, "performanceConfig": {"latency": "standard"}}
    response = client.post("/bedrock/model/m/converse-stream", json=body, headers=KEY)
    assert response.headers["content-type"] == EVENT_STREAM
    assert UUID.fullmatch(response.headers["x-amzn-requestid"])
    *_, (_, name, metadata) = frames(response.content)
    assert name == "metadata"
    assert metadata["usage"] == {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5}
    assert (metadata["serviceTier"], metadata["performanceConfig"]) == ({"type": "flex"}, {"latency": "standard"})


def test_an_error_litellm_reports_mid_stream_ends_it_with_the_modeled_exception() -> None:
    async def events() -> AsyncIterator[bytes]:
        yield f"data: {json.dumps(CHUNK)}\n\n".encode()
        yield b'data: {"error": {"message": "Rate limit reached", "code": "429"}}\n\n'

    response = streaming_litellm(events).post("/bedrock/model/m/converse-stream", json=HI, headers=KEY)
    assert response.status_code == 200
    assert frames(response.content) == [
        ("event", "messageStart", {"role": "assistant"}),
        ("event", "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hel"}}),
        ("exception", "throttlingException", {"message": "Rate limit reached"}),
    ]


def test_litellm_going_away_mid_stream_ends_it_with_service_unavailable() -> None:
    async def events() -> AsyncIterator[bytes]:
        yield f"data: {json.dumps(CHUNK)}\n\n".encode()
        raise ConnectionResetError("LiteLLM died")

    response = streaming_litellm(events).post("/bedrock/model/m/converse-stream", json=HI, headers=KEY)
    assert frames(response.content)[-1] == (
        "exception",
        "serviceUnavailableException",
        {"message": "LiteLLM is unreachable (ServerDisconnectedError)"},
    )


def test_an_error_body_that_is_not_json_is_relayed_as_text() -> None:
    async def completions(_: Request) -> Response:
        return Response(b"bad gateway \xff", status_code=502, media_type="text/plain")

    upstream = Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])
    client = TestClient(create_app(litellm=LiteLLMClient(AsgiTransport(upstream))))
    response = client.post("/bedrock/model/m/converse", json=HI, headers=KEY)
    assert (response.status_code, response.headers["x-amzn-errortype"]) == (503, "ServiceUnavailableException")
    assert response.json() == {"message": "bad gateway \ufffd"}


def test_each_error_answer_has_a_request_id_of_its_own() -> None:
    litellm = FakeLiteLLM(status=429, error={"error": {"message": "slow down", "code": "429"}})
    client = TestClient(create_app(litellm=litellm.client()))
    first, second = (client.post("/bedrock/model/m/converse", json=HI, headers=KEY) for _ in range(2))
    assert (first.status_code, first.headers["x-amzn-errortype"]) == (429, "ThrottlingException")
    assert UUID.fullmatch(first.headers["x-amzn-requestid"])
    assert UUID.fullmatch(second.headers["x-amzn-requestid"])
    assert first.headers["x-amzn-requestid"] != second.headers["x-amzn-requestid"]


def test_a_content_block_without_a_requested_guardrail_is_an_error() -> None:
    # LiteLLM's own guardrails (configured for every request) block with a 400: without a
    # guardrailConfig that is the ValidationException it is, not a guardrail_intervened answer.
    litellm = FakeLiteLLM(status=400, error={"error": {"message": "Content blocked: keyword 'x'", "code": "400"}})
    response = TestClient(create_app(litellm=litellm.client())).post("/bedrock/model/m/converse", json=HI, headers=KEY)
    assert (response.status_code, response.headers["x-amzn-errortype"]) == (400, "ValidationException")
    assert response.json() == {"message": "Content blocked: keyword 'x'"}


@pytest.mark.parametrize("route", ["converse", "converse-stream"])
def test_the_tokens_litellm_reports_reach_the_metrics(route: str, capsys: pytest.CaptureFixture[str]) -> None:
    client = TestClient(create_app(litellm=FakeLiteLLM().client()))
    response = client.post(f"/bedrock/model/m/{route}", json=HI, headers=KEY)
    request_id = response.headers["x-gateway-request-id"]
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    (line,) = [doc for doc in emf if doc["request_id"] == request_id]
    assert (line["InputTokens"], line["OutputTokens"]) == ([3.0], [2.0])


def test_an_empty_body_is_an_empty_converse_request() -> None:
    response = TestClient(create_app(litellm=FakeLiteLLM().client())).post(
        "/bedrock/model/m/converse", content=b"", headers=KEY
    )
    assert (response.status_code, response.json()) == (400, {"message": "messages must be a non-empty list"})


def test_ten_problems_are_all_listed_and_the_eleventh_is_counted() -> None:
    role = "Invalid value for parameter messages[{}].role, value: x, valid values: user, assistant, system"
    ten = "; ".join(role.format(i) for i in range(10))
    for count, expected in (
        (10, f"10 validation errors detected: {ten}"),
        (11, f"11 validation errors detected: {ten}; ... and 1 more"),
    ):
        with pytest.raises(InvalidRequestError) as refused:
            validate_converse({"messages": [{"role": "x", "content": []}] * count}, "m", stream=False)
        assert refused.value.message == expected


def test_converse_is_checked_against_converse_and_the_stream_against_converse_stream() -> None:
    # Only ConverseStream's guardrailConfig has streamProcessingMode.
    body = {
        **HI,
        "guardrailConfig": {"guardrailIdentifier": "gr1", "guardrailVersion": "1", "streamProcessingMode": "sync"},
    }
    validate_converse(body, "m", stream=True)
    with pytest.raises(InvalidRequestError) as refused:
        validate_converse(body, "m", stream=False)
    assert refused.value.message == (
        '1 validation error detected: Unknown parameter in guardrailConfig: "streamProcessingMode", '
        "must be one of: guardrailIdentifier, guardrailVersion, trace"
    )


def test_a_blob_whose_length_is_not_a_multiple_of_four_is_not_base64() -> None:
    # binascii alone would take it (it ignores padding past the data); the wire check wants whole
    # 4-character groups.
    image = {"image": {"format": "png", "source": {"bytes": "AAAAAAAA=="}}}
    with pytest.raises(InvalidRequestError) as refused:
        validate_converse({"messages": [{"role": "user", "content": [image]}]}, "m", stream=False)
    assert refused.value.message == (
        "1 validation error detected: Invalid value for parameter messages[0].content[0].image.source.bytes: "
        "blobs travel as base64 text"
    )


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (NotFoundError("no such session"), (404, "ResourceNotFoundException", "no such session")),
        (AuthenticationError("no key"), (403, "AccessDeniedException", "no key")),
        (PermissionDeniedError("not yours"), (403, "AccessDeniedException", "not yours")),
        (
            UpstreamTimeoutError("LiteLLM did not answer in time"),
            (408, "ModelTimeoutException", "LiteLLM did not answer in time"),
        ),
    ],
)
def test_gateway_errors_map_to_bedrock_exceptions(error: GatewayError, expected: tuple[int, str, str]) -> None:
    mapped = from_gateway_error(error)
    assert (mapped.status, mapped.error_type, mapped.message) == expected
    assert str(mapped) == expected[2]  # what a traceback or log line shows of it


def test_litellm_unreachable_is_service_unavailable_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def crash(_: Request) -> Response:
        raise ConnectionResetError("gone")

    upstream = Starlette(routes=[Route("/v1/chat/completions", crash, methods=["POST"])])
    client = TestClient(create_app(litellm=LiteLLMClient(AsgiTransport(upstream))))
    response = client.post("/bedrock/model/m/converse", json=HI, headers=KEY)
    assert (response.status_code, response.headers["x-amzn-errortype"]) == (503, "ServiceUnavailableException")
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        "upstream failure: LiteLLM is unreachable (ServerDisconnectedError)"
    ]


def test_a_history_turn_checks_the_key_before_anything_else() -> None:
    # the history table is not configured here: that refusal comes only after the key's
    body = {**HI, "additionalModelRequestFields": {"enable_history": True}}
    response = TestClient(create_app(litellm=FakeLiteLLM().client())).post(
        "/bedrock/model/m/converse", json=body, headers=KEY
    )
    assert (response.status_code, response.headers["x-amzn-errortype"]) == (403, "AccessDeniedException")
    assert response.json() == {"message": "The security token included in the request is invalid."}


def test_prompt_variables_without_a_prompt_arn_are_refused() -> None:
    body = {**HI, "promptVariables": {"city": {"text": "Paris"}}}
    response = TestClient(create_app(litellm=FakeLiteLLM().client())).post(
        "/bedrock/model/m/converse", json=body, headers=KEY
    )
    assert (response.status_code, response.json()) == (
        400,
        {"message": "promptVariables apply only when modelId is a prompt ARN"},
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"serviceTier": {"type": "reserved"}},
            "serviceTier.type must be one of ['default', 'flex', 'priority'] on this gateway "
            "(reserved capacity is Bedrock's own)",
        ),
        (
            {"additionalModelResponseFieldPaths": [f"/p{i}" for i in range(11)]},
            "additionalModelResponseFieldPaths must be a list of at most 10 JSON Pointers",
        ),
        (
            {"additionalModelResponseFieldPaths": ["/"]},
            "additionalModelResponseFieldPaths: '/' is not a JSON Pointer (RFC 6901)",
        ),
    ],
)
def test_option_refusals_word_for_word(body: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        request_options(body)
    assert refused.value.message == message
