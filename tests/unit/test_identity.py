"""Who the caller is (``gateway_core.identity``) through a real app: the owner LiteLLM's answer
gives, what LiteLLM's refusals and failures become, and how long an answer is trusted, on a
clock the test moves. (test_revocation covers the default 5 s, ``fresh`` and refusals.)"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from gateway_core import identity
from gateway_core.app_support import function_app
from gateway_core.http import LiteLLMClient
from gateway_core.identity import identify
from gateway_core.openai_errors import openai_error_handlers
from gateway_core.request_record import current_record
from gateway_core.settings import get_settings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.unit.asgi_transport import AsgiTransport
from tests.unit.conftest import FakeClock

NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


@dataclass
class KeyInfo:
    """LiteLLM's /key/info: answers ``status`` with ``body``; counts the questions."""

    status: int = 200
    body: Any = field(default_factory=lambda: {"key": "hash-1", "info": {"user_id": "alice", "team_id": "t1"}})
    asked: int = 0

    def client(self) -> TestClient:
        async def key_info(_: Request) -> Response:
            self.asked += 1
            return JSONResponse(self.body, status_code=self.status)

        async def who(request: Request) -> Response:
            caller = await identify(request)
            record = current_record.get()
            return JSONResponse(
                {"owner": caller.owner, "user_id": caller.user_id, "team": record.team if record else None}
            )

        litellm = LiteLLMClient(AsgiTransport(Starlette(routes=[Route("/key/info", key_info, methods=["GET"])])))
        app = function_app([Route("/who", who, methods=["GET"])], openai_error_handlers(), litellm=litellm)
        return TestClient(app, headers={"Authorization": "Bearer sk-caller"})


@pytest.fixture
def wall(clock: FakeClock, master_key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(identity, "_wall_clock", NOW.timestamp)


def test_a_key_with_a_user_is_owned_by_the_user_and_notes_its_team(wall: None) -> None:
    assert KeyInfo().client().get("/who").json() == {"owner": "user:alice", "user_id": "alice", "team": "t1"}


def test_a_key_without_a_user_is_owned_by_its_hash(wall: None) -> None:
    keys = KeyInfo(body={"key": "hash-9", "info": {"user_id": None}})
    assert keys.client().get("/who").json() == {"owner": "key:hash-9", "user_id": None, "team": None}
    keys = KeyInfo(body={"info": "unexpected"})  # no hash in the answer: ours, as LiteLLM computes it
    response = keys.client().get("/who", headers={"Authorization": "Bearer sk-other"})
    assert response.json()["owner"] == "key:" + hashlib.sha256(b"sk-other").hexdigest()


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_litellm_refusing_the_key_is_a_401(wall: None, status: int) -> None:
    response = KeyInfo(status=status, body={"error": {"message": "no"}}).client().get("/who")
    assert response.status_code == 401
    assert response.json()["error"] == {
        "message": "Invalid, expired or blocked API key",
        "type": "authentication_error",
        "param": None,
        "code": "invalid_api_key",
    }


@pytest.mark.parametrize(
    ("status", "body"), [(500, {"error": {}}), (429, {"error": {}}), (200, ["not", "an", "object"])]
)
def test_litellm_failing_to_answer_is_not_the_callers_fault(wall: None, status: int, body: Any) -> None:
    response = KeyInfo(status=status, body=body).client().get("/who")
    assert response.status_code == 502
    assert f"could not validate the key (HTTP {status})" in response.json()["error"]["message"]


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer  ", "Basic sk-caller", "sk-caller"])
def test_a_missing_or_malformed_authorization_is_a_401_without_asking(wall: None, header: str) -> None:
    keys = KeyInfo()
    response = keys.client().get("/who", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Missing API key: send 'Authorization: Bearer <key>'"
    assert keys.asked == 0


def test_the_cache_ttl_comes_from_the_setting(wall: None, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_IDENTITY_CACHE_TTL_S", "30")
    get_settings.cache_clear()
    try:
        keys = KeyInfo()
        client = keys.client()
        client.get("/who")
        clock.advance(29.999)
        client.get("/who")
        assert keys.asked == 1
        clock.advance(0.001)
        client.get("/who")
        assert keys.asked == 2
    finally:
        get_settings.cache_clear()


def test_a_cache_ttl_of_zero_asks_every_time(wall: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_IDENTITY_CACHE_TTL_S", "0")
    get_settings.cache_clear()
    try:
        keys = KeyInfo()
        client = keys.client()
        client.get("/who")
        client.get("/who")
        assert keys.asked == 2
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize(
    ("expires", "trusted_s"),
    [
        ("2030-01-01T12:00:03+00:00", 3.0),  # explicit offset
        ("2030-01-01T12:00:03", 3.0),  # no zone: LiteLLM writes UTC
        ("2030-01-01T13:00:03+01:00", 3.0),  # another zone, same moment
        ("2030-01-01T12:01:00Z", 5.0),  # later than the cache's own 5 s
        ("2030-01-01T12:00:00.5Z", 0.5),  # under a second: still trusted until then
        ("2029-12-31T00:00:00Z", 0.0),  # already expired: LiteLLM decides each time
        ("tomorrow", 0.0),  # unreadable: trusted for this request only
    ],
)
def test_an_answer_is_never_trusted_past_the_keys_expiry(
    wall: None, clock: FakeClock, expires: str, trusted_s: float
) -> None:
    keys = KeyInfo(body={"key": "h", "info": {"user_id": "alice", "expires": expires}})
    client = keys.client()
    client.get("/who")
    if trusted_s:
        clock.advance(trusted_s - 0.001)
        client.get("/who")
        assert keys.asked == 1
        clock.advance(0.001)
    client.get("/who")
    assert keys.asked == 2


def test_the_cache_is_bounded(wall: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(identity, "_CACHE_LIMIT", 2)
    keys = KeyInfo()
    client = keys.client()
    for n in range(3):
        client.get("/who", headers={"Authorization": f"Bearer sk-{n}"})
    assert len(identity._cache) == 1  # full at the third: cleared, then the third added
    client.get("/who", headers={"Authorization": "Bearer sk-2"})
    assert keys.asked == 3


def test_the_master_key_is_the_admin_without_asking_litellm(wall: None, master_key: str) -> None:
    keys = KeyInfo()
    response = keys.client().get("/who", headers={"Authorization": f"Bearer {master_key}"})
    assert response.json() == {"owner": "admin", "user_id": None, "team": None}
    assert keys.asked == 0


def test_an_invalid_priority_in_the_keys_metadata_is_ignored_and_logged_as_the_keys(
    wall: None, caplog: pytest.LogCaptureFixture
) -> None:
    keys = KeyInfo(body={"key": "h", "info": {"user_id": "alice", "metadata": {"priority": "high"}}})
    with caplog.at_level("WARNING", logger="gateway"):
        assert keys.client().get("/who").json()["owner"] == "user:alice"
    assert [r.getMessage() for r in caplog.records] == ["ignoring invalid priority 'high' in the metadata of a key"]


@pytest.fixture
def tokyo_local_time() -> Iterator[None]:
    """The process's local zone is UTC+9 (Lambda's is UTC: a naive time must not depend on it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "Asia/Tokyo")
        time.tzset()
        yield
    time.tzset()


def test_an_expiry_without_a_zone_is_utc_whatever_the_local_zone(
    wall: None, clock: FakeClock, tokyo_local_time: None
) -> None:
    keys = KeyInfo(body={"key": "h", "info": {"user_id": "alice", "expires": "2030-01-01T12:00:03"}})
    client = keys.client()
    client.get("/who")
    clock.advance(2.999)
    client.get("/who")
    assert keys.asked == 1
    clock.advance(0.001)
    client.get("/who")
    assert keys.asked == 2


def test_a_bearer_token_after_extra_spaces_is_the_key(wall: None) -> None:
    keys = KeyInfo()
    response = keys.client().get("/who", headers={"Authorization": "Bearer   sk-caller "})
    assert response.json() == {"owner": "user:alice", "user_id": "alice", "team": "t1"}
    assert keys.asked == 1


def test_a_cached_answer_still_notes_the_keys_team(wall: None) -> None:
    keys = KeyInfo()
    client = keys.client()
    assert client.get("/who").json()["team"] == "t1"
    assert client.get("/who").json() == {"owner": "user:alice", "user_id": "alice", "team": "t1"}
    assert keys.asked == 1


def test_an_answer_trusted_for_no_time_takes_no_room_in_the_cache(wall: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(identity, "_CACHE_LIMIT", 2)
    keys = KeyInfo()
    client = keys.client()
    client.get("/who", headers={"Authorization": "Bearer sk-a"})
    keys.body = {"key": "h", "info": {"user_id": "bob", "expires": "tomorrow"}}  # unreadable: trusted for 0 s
    client.get("/who", headers={"Authorization": "Bearer sk-b"})
    keys.body = {"key": "h", "info": {"user_id": "carol"}}
    client.get("/who", headers={"Authorization": "Bearer sk-c"})  # the cache holds sk-a only: room for sk-c
    assert client.get("/who", headers={"Authorization": "Bearer sk-a"}).json()["owner"] == "user:alice"
    assert keys.asked == 3
