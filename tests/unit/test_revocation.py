"""How long a revoked key keeps working: the identity cache's policy, on a clock the test moves.

LiteLLM is faked in process (its /key/info, with a switch that revokes a key); the history
function's real app and routes run against moto's DynamoDB for the delete case.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from chat_history.app import create_app
from gateway_core import identity
from gateway_core.app_support import function_app
from gateway_core.history.store import get_store
from gateway_core.http import LiteLLMClient
from gateway_core.identity import identify
from gateway_core.openai_errors import openai_error_handlers
from gateway_core.settings import get_settings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from local.dynamodb import create_tables
from tests.unit.asgi_transport import AsgiTransport

KEY = "sk-tenant"


@dataclass
class FakeKeys:
    """LiteLLM's /key/info for one key: valid until ``revoked``; counts the questions."""

    revoked: bool = False
    expires: str | None = None
    asked: int = 0
    app: Starlette = field(init=False)

    def __post_init__(self) -> None:
        async def key_info(request: Request) -> Response:
            self.asked += 1
            if self.revoked or request.headers.get("authorization") != f"Bearer {KEY}":
                return JSONResponse({"error": {"message": "Authentication Error"}}, status_code=401)
            return JSONResponse({"key": "hash", "info": {"user_id": "alice", "expires": self.expires}})

        self.app = Starlette(routes=[Route("/key/info", key_info, methods=["GET"])])


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(identity, "_clock", clock)
    monkeypatch.setattr(identity, "_cache", {})

    async def master() -> str:
        return "sk-master"

    monkeypatch.setattr(identity, "get_master_key", master)
    return clock


def _who_app(keys: FakeKeys) -> TestClient:
    async def who(request: Request) -> Response:
        caller = await identify(request, fresh=request.query_params.get("fresh") == "1")
        return JSONResponse({"owner": caller.owner})

    app = function_app(
        [Route("/who", who, methods=["GET"])], openai_error_handlers(), litellm=LiteLLMClient(AsgiTransport(keys.app))
    )
    return TestClient(app, headers={"Authorization": f"Bearer {KEY}"})


def test_a_revoked_key_is_refused_once_the_default_five_seconds_pass(clock: Clock) -> None:
    keys = FakeKeys()
    client = _who_app(keys)
    assert client.get("/who").json() == {"owner": "user:alice"}
    keys.revoked = True
    clock.now += 4.999
    assert client.get("/who").status_code == 200  # trusted from the cache, as documented
    assert keys.asked == 1
    clock.now += 0.001
    refused = client.get("/who")
    assert refused.status_code == 401 and refused.json()["error"]["type"] == "authentication_error"
    assert keys.asked == 2


def test_fresh_asks_litellm_whatever_the_cache_says(clock: Clock) -> None:
    keys = FakeKeys()
    client = _who_app(keys)
    assert client.get("/who").status_code == 200
    keys.revoked = True
    assert client.get("/who?fresh=1").status_code == 401
    assert keys.asked == 2
    assert client.get("/who").status_code == 401  # and the refusal dropped the cached answer
    assert keys.asked == 3


def test_refusals_are_not_cached(clock: Clock) -> None:
    keys = FakeKeys(revoked=True)
    client = _who_app(keys)
    assert client.get("/who").status_code == 401
    keys.revoked = False  # e.g. unblocked
    assert client.get("/who").status_code == 200
    assert keys.asked == 2


def test_a_key_is_never_trusted_past_its_own_expiry(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    now = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)
    monkeypatch.setattr(identity, "_wall_clock", now.timestamp)
    keys = FakeKeys(expires="2030-01-01T12:00:02Z")  # two seconds left, less than the cache's five
    client = _who_app(keys)
    assert client.get("/who").status_code == 200
    clock.now += 1.999
    assert client.get("/who").status_code == 200 and keys.asked == 1
    clock.now += 0.001
    assert client.get("/who").status_code == 200 and keys.asked == 2  # asked again: LiteLLM decides


@pytest.fixture
def history(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("GATEWAY_HISTORY_TABLE", "history-revocation")
    get_settings.cache_clear()
    get_store.cache_clear()
    create_tables(None, {"HistoryTable": "history-revocation"})
    yield get_store()
    get_settings.cache_clear()
    get_store.cache_clear()


def test_a_key_blocked_a_moment_ago_cannot_delete(clock: Clock, history: Any) -> None:
    history.append("s1", "user:alice", [{"role": "user", "content": "hi"}], create=True, model=None, system=None)
    keys = FakeKeys()
    client = TestClient(create_app(litellm=LiteLLMClient(AsgiTransport(keys.app))))
    auth = {"Authorization": f"Bearer {KEY}"}
    assert client.post("/chat-history", json={"session_id": "s1"}, headers=auth).status_code == 200
    keys.revoked = True  # blocked right after a read: the cache still trusts the key for reads
    assert client.post("/chat-history", json={"session_id": "s1"}, headers=auth).status_code == 200
    refused = client.delete("/chat-history/s1", headers=auth)
    assert refused.status_code == 401 and refused.json()["error"]["type"] == "authentication_error"
    assert history.get("s1") is not None and len(history.messages("s1")) == 1
