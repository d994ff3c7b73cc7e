"""guardrailConfig through the real converse routes, LiteLLM faked behind the seam: the Bedrock
guardrail selects the LiteLLM guardrail mapped to it, a block becomes Bedrock's
guardrail_intervened answer (with its trace when asked), and an unmapped guardrail is refused."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from bedrock_runtime import converse
from bedrock_runtime.app import create_app
from botocore.eventstream import EventStreamBuffer
from gateway_core.converse import guardrails
from gateway_core.converse.guardrails import Guardrail, blocked_answer, resolve_guardrail
from gateway_core.errors import InvalidRequestError
from gateway_core.http import LiteLLMClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.unit.asgi_transport import AsgiTransport
from tests.unit.conftest import FakeClock

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
NEEDS = "guardrailConfig needs guardrailIdentifier and guardrailVersion"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
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


def test_the_guardrail_list_is_read_with_the_master_key_and_cached_a_minute(
    gateway: tuple[TestClient, AsgiTransport], master_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, transport = gateway
    clock = FakeClock()
    monkeypatch.setattr(guardrails, "time", SimpleNamespace(monotonic=clock))
    for seconds in (0, 59, 1):  # the list read at t=0 serves until t<60; at t=60 it is read again
        clock.advance(seconds)
        client.post("/bedrock/model/m/converse", json=_body("hello", guardrailConfig=GUARD), headers=KEY)
    listings = [r for r in transport.requests if r.path == "/guardrails/list"]
    assert len(listings) == 2
    assert ("authorization", f"Bearer {master_key}") in [(k.lower(), v) for k, v in listings[0].headers]


def test_an_unreadable_guardrail_list_is_service_unavailable(master_key: str) -> None:
    async def failing(_: Request) -> Response:
        return JSONResponse({"error": {"message": "db down"}}, 500)

    guardrails._cache = None
    transport = AsgiTransport(Starlette(routes=[Route("/guardrails/list", failing, methods=["GET"])]))
    client = TestClient(create_app(litellm=LiteLLMClient(transport)))
    response = client.post("/bedrock/model/m/converse", json=_body("hello", guardrailConfig=GUARD), headers=KEY)
    assert response.status_code == 503
    assert response.headers["x-amzn-errortype"] == "ServiceUnavailableException"
    assert response.json() == {"message": "The guardrail configuration could not be read; try again"}
    assert guardrails._cache is None


def test_trace_enabled_full_is_a_traced_guardrail(gateway: tuple[TestClient, AsgiTransport]) -> None:
    client, transport = gateway
    resolved = asyncio.run(resolve_guardrail(LiteLLMClient(transport), {**GUARD, "trace": "enabled_full"}))
    assert resolved == Guardrail("gr1", "2", "no-secrets", "Nope.", True)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("gr1", "guardrailConfig must be an object"),
        ({"guardrailIdentifier": "gr1", "guardrailVersion": ""}, NEEDS),
        ({"guardrailIdentifier": "", "guardrailVersion": "2"}, NEEDS),
        ({"guardrailIdentifier": 7, "guardrailVersion": "2"}, NEEDS),
        ({**GUARD, "trace": "on"}, "guardrailConfig.trace must be enabled, disabled or enabled_full"),
    ],
)
def test_a_malformed_guardrail_config_is_refused_before_any_lookup(
    gateway: tuple[TestClient, AsgiTransport], config: Any, message: str
) -> None:
    # botocore's model refuses these on the routes first; resolve_guardrail holds on its own.
    _, transport = gateway
    with pytest.raises(InvalidRequestError) as refused:
        asyncio.run(resolve_guardrail(LiteLLMClient(transport), config))
    assert refused.value.message == message
    assert transport.requests == []


def test_the_blocked_answer_is_bedrocks_shape() -> None:
    guardrail = Guardrail("gr1", "2", "no-secrets", "Nope.", trace=False)
    assert blocked_answer(guardrail, "Content blocked", 12) == {
        "output": {"message": {"role": "assistant", "content": [{"text": "Nope."}]}},
        "stopReason": "guardrail_intervened",
        "usage": {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0},
        "metrics": {"latencyMs": 12},
    }


def test_a_blocked_answer_has_its_latency_and_request_id(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(converse, "time", SimpleNamespace(perf_counter=clock))

    async def slow_block(request: Request) -> Response:
        clock.advance(2.5)
        return await completions(request)

    guardrails._cache = None
    upstream = Starlette(
        routes=[
            Route("/guardrails/list", listing, methods=["GET"]),
            Route("/v1/chat/completions", slow_block, methods=["POST"]),
        ]
    )
    client = TestClient(create_app(litellm=LiteLLMClient(AsgiTransport(upstream))))
    response = client.post("/bedrock/model/m/converse", json=_body("a secret", guardrailConfig=GUARD), headers=KEY)
    assert response.json()["metrics"] == {"latencyMs": 2500}
    assert UUID.fullmatch(response.headers["x-amzn-requestid"])
    stream = client.post("/bedrock/model/m/converse-stream", json=_body("secret", guardrailConfig=GUARD), headers=KEY)
    assert stream.headers["content-type"] == "application/vnd.amazon.eventstream"
    assert UUID.fullmatch(stream.headers["x-amzn-requestid"])
    guardrails._cache = None


def test_an_error_that_is_not_the_guardrail_blocking_stays_an_error(master_key: str) -> None:
    async def throttled(_: Request) -> Response:
        return JSONResponse({"error": {"message": "Rate limit reached", "code": "429"}}, 429)

    guardrails._cache = None
    upstream = Starlette(
        routes=[
            Route("/guardrails/list", listing, methods=["GET"]),
            Route("/v1/chat/completions", throttled, methods=["POST"]),
        ]
    )
    client = TestClient(create_app(litellm=LiteLLMClient(AsgiTransport(upstream))))
    response = client.post("/bedrock/model/m/converse", json=_body("hello", guardrailConfig=GUARD), headers=KEY)
    assert (response.status_code, response.headers["x-amzn-errortype"]) == (429, "ThrottlingException")
    assert response.json() == {"message": "Rate limit reached"}
    guardrails._cache = None


def test_the_stream_takes_converse_streams_guardrail_shape(gateway: tuple[TestClient, AsgiTransport]) -> None:
    client, _ = gateway
    guard = {**GUARD, "streamProcessingMode": "sync"}  # a ConverseStream-only member
    response = client.post("/bedrock/model/m/converse-stream", json=_body("hello", guardrailConfig=guard), headers=KEY)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.amazon.eventstream"
