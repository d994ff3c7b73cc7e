"""The priority rules through the real routes of both chat functions, LiteLLM faked in process.

The fake LiteLLM knows three keys (urgent: metadata 10; teamed: no priority of its own, team 5;
plain: none) and answers chat calls with the body it received. The gated model has no Redis
here (GATEWAY_PRIORITY_REDIS_URL unset), so requests go straight on and the priority they were
given shows in ``x-gateway-priority``; the queue itself is proven on the local stack.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from bedrock_runtime.app import create_app as bedrock_app
from gateway_core import identity, prioritized
from gateway_core.http import LiteLLMClient
from gateway_core.settings import get_settings
from openai_chat.app import create_app as openai_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.unit.asgi_transport import AsgiTransport

GATED = "gated-model"
MASTER = "sk-master"
KEYS: dict[str, dict[str, Any]] = {
    "sk-urgent": {"metadata": {"priority": 10, "team": "core-infra"}},
    "sk-teamed": {"metadata": {"priority": "high"}, "team_id": "t-1"},  # invalid: ignored, the team's applies
    "sk-plain": {"metadata": {}},
}


async def _key_info(request: Request) -> Response:
    token = request.headers.get("authorization", "").removeprefix("Bearer ")
    if token not in KEYS:
        return JSONResponse({"error": {"message": "Authentication Error"}}, status_code=401)
    return JSONResponse({"key": "hash-" + token, "info": KEYS[token]})


async def _team_info(request: Request) -> Response:
    assert request.headers["authorization"] == f"Bearer {MASTER}"
    assert request.query_params["team_id"] == "t-1"
    return JSONResponse({"team_id": "t-1", "team_info": {"metadata": {"priority": 5}}})


async def _chat(request: Request) -> Response:
    body = await request.json()
    echo = {"role": "assistant", "content": json.dumps(body)}
    return JSONResponse(
        {
            "id": "c",
            "object": "chat.completion",
            "model": body["model"],
            "choices": [{"index": 0, "message": echo, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    )


def _fake_litellm() -> Starlette:
    return Starlette(
        routes=[
            Route("/key/info", _key_info, methods=["GET"]),
            Route("/team/info", _team_info, methods=["GET"]),
            Route("/v1/chat/completions", _chat, methods=["POST"]),
        ]
    )


@pytest.fixture(autouse=True)
def gated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GATEWAY_PRIORITY_LIMITS", json.dumps({GATED: 1}))
    monkeypatch.delenv("GATEWAY_PRIORITY_REDIS_URL", raising=False)
    monkeypatch.setenv("GATEWAY_LITELLM_MASTER_KEY", MASTER)
    monkeypatch.setattr(identity, "_cache", {})
    monkeypatch.setattr(prioritized, "_team_cache", {})

    async def master() -> str:
        return MASTER

    monkeypatch.setattr(identity, "get_master_key", master)
    monkeypatch.setattr(prioritized, "get_master_key", master)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _openai(key: str, **body: Any) -> Any:
    client = TestClient(openai_app(litellm=LiteLLMClient(AsgiTransport(_fake_litellm()))))
    messages = [{"role": "user", "content": "hi"}]
    return client.post(
        "/v1/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": GATED, "messages": messages, **body},
    )


def _converse(key: str, model: str = GATED, **extra: Any) -> Any:
    client = TestClient(bedrock_app(litellm=LiteLLMClient(AsgiTransport(_fake_litellm()))))
    body: dict[str, Any] = {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}
    if extra:
        body["additionalModelRequestFields"] = extra
    return client.post(f"/bedrock/model/{model}/converse", headers={"authorization": f"Bearer {key}"}, json=body)


def _forwarded_openai(response: Any) -> dict[str, Any]:
    forwarded: dict[str, Any] = json.loads(response.json()["choices"][0]["message"]["content"])
    return forwarded


def _forwarded_converse(response: Any) -> dict[str, Any]:
    forwarded: dict[str, Any] = json.loads(response.json()["output"]["message"]["content"][0]["text"])
    return forwarded


@pytest.mark.parametrize(
    ("key", "asked", "served"),
    [
        ("sk-urgent", None, "10"),  # the key's metadata
        ("sk-urgent", 0, "10"),  # asking for more urgency changes nothing
        ("sk-urgent", 200, "200"),  # asking for less is granted
        ("sk-teamed", None, "5"),  # the team's metadata (the key's invalid one ignored)
        ("sk-teamed", 3, "5"),
        ("sk-plain", None, "128"),  # the default
        ("sk-plain", 0, "128"),
        ("sk-plain", 255, "255"),
        (MASTER, 0, "0"),  # the master key takes what it asks for
        (MASTER, None, "128"),
    ],
)
def test_the_served_priority_on_both_interfaces(key: str, asked: int | None, served: str) -> None:
    body = {} if asked is None else {"priority": asked}
    openai = _openai(key, **body)
    assert openai.status_code == 200, openai.text
    assert openai.headers["x-gateway-priority"] == served
    assert "priority" not in _forwarded_openai(openai)
    converse = _converse(key, **body)
    assert converse.status_code == 200, converse.text
    assert converse.headers["x-gateway-priority"] == served
    hi = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert _forwarded_converse(converse) == {"model": GATED, "messages": hi}


def test_the_other_additional_fields_still_reach_the_model() -> None:
    converse = _converse("sk-plain", priority=200, top_k=5)
    assert converse.headers["x-gateway-priority"] == "200"
    hi = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert _forwarded_converse(converse) == {"model": GATED, "messages": hi, "top_k": 5}


def test_an_ungated_model_is_relayed_without_asking_who_calls() -> None:
    converse = _converse("sk-unknown-to-litellm", model="other-model", priority=3)
    assert converse.status_code == 200, converse.text
    assert "x-gateway-priority" not in converse.headers
    assert "priority" not in _forwarded_converse(converse)


@pytest.mark.parametrize("bad", [-1, 256, 1.5, "1", True, [], {}])
def test_an_invalid_priority_is_a_400_in_each_shape(bad: Any) -> None:
    openai = _openai("sk-plain", priority=bad)
    assert openai.status_code == 400
    assert openai.json()["error"]["param"] == "priority"
    assert openai.json()["error"]["type"] == "invalid_request_error"
    converse = _converse("sk-plain", priority=bad)
    assert converse.status_code == 400
    assert converse.headers["x-amzn-errortype"].startswith("ValidationException")
    assert converse.json()["message"] == (
        "'additionalModelRequestFields.priority' must be an integer from 0 (most urgent) to 255"
    )


@pytest.mark.parametrize(("asked", "served"), [(None, "10"), (200, "200")])
def test_converse_stream_is_admitted_by_its_model_too(asked: int | None, served: str) -> None:
    client = TestClient(bedrock_app(litellm=LiteLLMClient(AsgiTransport(_fake_litellm()))))
    body: dict[str, Any] = {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}
    if asked is not None:  # less urgency than the key's 10: granted
        body["additionalModelRequestFields"] = {"priority": asked}
    response = client.post(
        f"/bedrock/model/{GATED}/converse-stream", headers={"authorization": "Bearer sk-urgent"}, json=body
    )
    assert response.status_code == 200
    assert response.headers["x-gateway-priority"] == served
