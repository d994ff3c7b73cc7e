"""``x-gateway-overhead-ms``: our own time on a request, without the wait for LiteLLM, on every
interface and path, exactly, on a clock the test moves (no sleeps, no timing margins).

LiteLLM takes 5 s on the fake clock for each answer; the gateway's own work is made to take
12.5 ms by moving the clock while it parses the body. The header must say 12.50.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from bedrock_runtime import converse
from bedrock_runtime.app import create_app as bedrock_app
from chat_history import routes
from chat_history.app import create_app as history_app
from gateway_core import timing
from openai_chat import chat
from openai_chat.app import create_app as openai_app
from starlette.testclient import TestClient

from tests.unit.conftest import FakeClock, Gateway
from tests.unit.fake_litellm import FakeLiteLLM

LITELLM_S, OURS_S = 5.0, 0.0125
AUTH = {"Authorization": "Bearer sk-alice"}


def slowed(clock: FakeClock, parse: Callable[..., Any]) -> Callable[..., Any]:
    def parse_taking_our_time(*args: Any, **kwargs: Any) -> Any:
        clock.advance(OURS_S)
        return parse(*args, **kwargs)

    return parse_taking_our_time


@pytest.fixture
def litellm(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> FakeLiteLLM:
    monkeypatch.setattr(timing, "_clock", clock)
    monkeypatch.setattr(chat, "parse_chat_body", slowed(clock, chat.parse_chat_body))
    monkeypatch.setattr(converse, "json_object", slowed(clock, converse.json_object))
    monkeypatch.setattr(routes, "json_object", slowed(clock, routes.json_object))
    return FakeLiteLLM(thinking=lambda: clock.advance(LITELLM_S))


@pytest.mark.parametrize("stream", [False, True])
def test_openai_route(litellm: FakeLiteLLM, stream: bool) -> None:
    client = TestClient(openai_app(litellm=litellm.client()))
    body = {"model": "m", "stream": stream, "messages": [{"role": "user", "content": "hi"}]}
    response = client.post("/v1/chat/completions", json=body, headers=AUTH)
    assert response.status_code == 200
    assert response.headers["x-gateway-overhead-ms"] == "12.50"


@pytest.mark.parametrize("path", ["converse", "converse-stream"])
def test_bedrock_routes(litellm: FakeLiteLLM, path: str) -> None:
    client = TestClient(bedrock_app(litellm=litellm.client()))
    body = {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}
    response = client.post(f"/bedrock/model/m/{path}", json=body, headers=AUTH)
    assert response.status_code == 200
    assert response.headers["x-gateway-overhead-ms"] == "12.50"


def test_history_route_excludes_the_key_check(gateway: Gateway, litellm: FakeLiteLLM, clock: FakeClock) -> None:
    gateway.store.append("s", "user:alice", [{"role": "user", "content": "x"}], create=True, model=None, system=None)
    client = TestClient(history_app(litellm=litellm.client()))
    response = client.post("/session-ids", json={}, headers=AUTH)
    assert response.status_code == 200 and litellm.key_questions == 1
    assert response.headers["x-gateway-overhead-ms"] == "12.50"
