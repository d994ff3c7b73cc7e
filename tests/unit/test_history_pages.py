"""The history routes page, and their next_token works only for its caller, listing and session.

The chat_history app's real routes, LiteLLM's /key/info faked in process, DynamoDB on moto.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from chat_history.app import create_app
from gateway_core import identity
from gateway_core.history import cursor
from gateway_core.history.sizes import converse_cost, openai_cost
from gateway_core.history.store import SessionStore, get_store
from gateway_core.http import LiteLLMClient
from gateway_core.settings import get_settings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.unit.asgi_transport import AsgiTransport
from tests.unit.conftest import HISTORY_TABLE, empty

USERS = {"sk-alice": "alice", "sk-mallory": "mallory"}
MESSAGES = [{"role": "user" if n % 2 == 0 else "assistant", "content": f"m{n}"} for n in range(5)]


async def key_info(request: Request) -> Response:
    user = USERS.get(request.headers.get("authorization", "").removeprefix("Bearer "))
    if user is None:
        return JSONResponse({"error": {"message": "Authentication Error"}}, status_code=401)
    return JSONResponse({"key": f"hash-{user}", "info": {"user_id": user}})


@pytest.fixture
def client(history_table: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    empty(history_table)
    monkeypatch.setenv("GATEWAY_HISTORY_TABLE", HISTORY_TABLE)
    get_settings.cache_clear()
    get_store.cache_clear()
    monkeypatch.setattr(identity, "_cache", {})

    async def master() -> str:
        return "sk-master"

    monkeypatch.setattr(identity, "get_master_key", master)
    monkeypatch.setattr(cursor, "get_master_key", master)
    store: SessionStore = get_store()
    system = [{"role": "system", "content": "Be brief."}]
    store.append("s1", "user:alice", MESSAGES, create=True, model=None, system=system)
    store.append("s2", "user:alice", MESSAGES[:1], create=True, model=None, system=None)
    store.append("s3", "user:mallory", MESSAGES[:1], create=True, model=None, system=None)
    litellm = LiteLLMClient(AsgiTransport(Starlette(routes=[Route("/key/info", key_info, methods=["GET"])])))
    yield TestClient(create_app(litellm=litellm))
    get_settings.cache_clear()
    get_store.cache_clear()


def _post(client: TestClient, path: str, key: str, body: dict[str, Any]) -> Any:
    return client.post(path, json=body, headers={"Authorization": f"Bearer {key}"})


def test_chat_history_pages_with_the_system_prompt_first(client: TestClient) -> None:
    pages = []
    body: dict[str, Any] = {"session_id": "s1", "limit": 2}
    for _ in range(10):  # bounded: a listing that never ends fails here instead of hanging
        page = _post(client, "/chat-history", "sk-alice", body).json()
        pages.append(page["messages"])
        if page["next_token"] is None:
            break
        body["next_token"] = page["next_token"]
    else:
        pytest.fail(f"no last page after 10: {pages[:3]}")
    assert pages == [
        [{"role": "system", "content": "Be brief."}, *MESSAGES[0:2]],
        MESSAGES[2:4],
        MESSAGES[4:5],
    ]
    assert _post(client, "/chat-history", "sk-alice", {"session_id": "s1"}).json()["next_token"] is None


def test_bedrock_chat_history_pages_in_converse_shape(client: TestClient) -> None:
    first = _post(client, "/bedrock/chat-history", "sk-alice", {"session_id": "s1", "limit": 3}).json()
    assert first["system"] == [{"text": "Be brief."}]
    assert first["messages"] == [
        {"role": "user", "content": [{"text": "m0"}]},
        {"role": "assistant", "content": [{"text": "m1"}]},
        {"role": "user", "content": [{"text": "m2"}]},
    ]
    rest = _post(
        client, "/bedrock/chat-history", "sk-alice", {"session_id": "s1", "next_token": first["next_token"]}
    ).json()
    assert rest == {
        "session_id": "s1",
        "messages": [
            {"role": "assistant", "content": [{"text": "m3"}]},
            {"role": "user", "content": [{"text": "m4"}]},
        ],
        "system": [],
        "next_token": None,
    }


def test_a_token_works_for_its_caller_session_and_listing_only(client: TestClient) -> None:
    token = _post(client, "/chat-history", "sk-alice", {"session_id": "s1", "limit": 1}).json()["next_token"]
    position, mac = token.split(".")
    misuses = [
        ("/chat-history", "sk-alice", {"session_id": "s1", "next_token": f"{position}.{mac[::-1]}"}),
        ("/chat-history", "sk-alice", {"session_id": "s1", "next_token": f"{position[:-2]}xx.{mac}"}),
        ("/chat-history", "sk-alice", {"session_id": "s2", "next_token": token}),  # another session
        ("/chat-history", "sk-mallory", {"session_id": "s3", "next_token": token}),  # another caller
        ("/session-ids", "sk-alice", {"next_token": token}),  # another listing
        ("/chat-history", "sk-alice", {"session_id": "s1", "next_token": "e30"}),  # "{}", unsigned
    ]
    for path, key, body in misuses:
        refused = _post(client, path, key, body)
        assert refused.status_code == 400, (path, body, refused.text)
        assert refused.json()["error"] == {
            "message": "next_token is not valid",
            "type": "invalid_request_error",
            "param": "next_token",
            "code": "invalid_request",
        }
    bedrock = _post(client, "/bedrock/chat-history", "sk-alice", {"session_id": "s2", "next_token": token})
    assert bedrock.status_code == 400 and bedrock.headers["x-amzn-ErrorType"] == "ValidationException"
    assert bedrock.json() == {"message": "next_token is not valid"}


def test_session_listing_tokens_are_bound_to_their_owner(client: TestClient) -> None:
    page = _post(client, "/session-ids", "sk-alice", {"limit": 1}).json()
    assert len(page["session_ids"]) == 1 and page["next_token"]
    rest = _post(client, "/session-ids", "sk-alice", {"limit": 1, "next_token": page["next_token"]}).json()
    assert sorted(page["session_ids"] + rest["session_ids"]) == ["s1", "s2"]
    stolen = _post(client, "/session-ids", "sk-mallory", {"limit": 1, "next_token": page["next_token"]})
    assert stolen.status_code == 400 and stolen.json()["error"]["param"] == "next_token"


def test_a_session_listing_gives_50_by_default(client: TestClient) -> None:
    store = get_store()
    for n in range(49):  # 51 of alice's with s1 and s2
        store.append(f"x{n}", "user:alice", MESSAGES[:1], create=True, model=None, system=None)
    page = _post(client, "/session-ids", "sk-alice", {}).json()
    rest = _post(client, "/session-ids", "sk-alice", {"next_token": page["next_token"]}).json()
    assert (len(page["session_ids"]), len(rest["session_ids"]), rest["next_token"]) == (50, 1, None)


@pytest.mark.parametrize(("path", "cost"), [("/chat-history", openai_cost), ("/bedrock/chat-history", converse_cost)])
def test_a_page_is_budgeted_in_the_shape_it_is_served_in(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, path: str, cost: object
) -> None:
    budgets: list[object] = []
    page = SessionStore.page

    def recorded(self: SessionStore, *args: Any, **kwargs: Any) -> Any:
        budgets.append(kwargs.get("cost"))
        return page(self, *args, **kwargs)

    monkeypatch.setattr(SessionStore, "page", recorded)
    assert _post(client, path, "sk-alice", {"session_id": "s1"}).status_code == 200
    assert budgets == [cost]
