"""POST /key/generate through the user_keys app's real route: a key mints keys only for its own
user and its own teams (a 403 naming the field, before LiteLLM is asked); the master key passes
unchanged. LiteLLM is faked in process (``tests.unit.fake_litellm``)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.testclient import TestClient
from user_keys.app import create_app

from tests.unit.fake_litellm import KEYS, MASTER_KEY, FakeLiteLLM


@pytest.fixture
def litellm(clock: Any, master_key: str) -> FakeLiteLLM:
    return FakeLiteLLM()


def generate(litellm: FakeLiteLLM, key: str, body: Any) -> Any:
    client = TestClient(create_app(litellm=litellm.client()))
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/key/generate", content=content, headers={"Authorization": f"Bearer {key}"})


def test_a_key_mints_for_its_own_user_by_default(litellm: FakeLiteLLM) -> None:
    response = generate(litellm, "sk-alice", {"key_alias": "ci"})
    assert response.status_code == 200 and response.json() == {"user_id": "alice", "key": "sk-another-key"}
    assert litellm.management == [("/key/generate", "sk-alice", {"key_alias": "ci", "user_id": "alice"})]


def test_a_key_may_name_its_own_user_and_team(litellm: FakeLiteLLM) -> None:
    response = generate(litellm, "sk-alice", {"user_id": "alice", "team_id": "team-a"})
    assert response.status_code == 200
    assert litellm.management == [
        ("/user/info?user_id=alice", MASTER_KEY, None),  # asked with the master key
        ("/key/generate", "sk-alice", {"user_id": "alice", "team_id": "team-a"}),
    ]


@pytest.mark.parametrize(
    ("key", "body", "param", "message"),
    [
        ("sk-alice", {"user_id": "mallory"}, "user_id", "A key can only mint keys for its own user"),
        ("sk-alice", {"team_id": "team-b"}, "team_id", "The caller is not a member of team team-b"),
        ("sk-mallory", {"team_id": "team-a"}, "team_id", "The caller is not a member of team team-a"),
    ],
)
def test_another_user_or_team_is_a_403_naming_the_field(
    litellm: FakeLiteLLM, key: str, body: dict[str, Any], param: str, message: str
) -> None:
    response = generate(litellm, key, body)
    assert response.status_code == 403
    assert response.json()["error"] == {
        "message": message,
        "type": "permission_error",
        "param": param,
        "code": "permission_denied",
    }
    assert [path for path, _, _ in litellm.management if path == "/key/generate"] == []


def test_a_key_without_a_user_has_no_team(litellm: FakeLiteLLM, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(KEYS, "sk-service", "")  # LiteLLM answers no user_id: owned by its hash
    response = generate(litellm, "sk-service", {"team_id": "team-a"})
    assert response.status_code == 403 and response.json()["error"]["param"] == "team_id"
    assert litellm.management == []  # no user to ask about
    ok = generate(litellm, "sk-service", {"key_alias": "x"})
    assert ok.status_code == 200 and litellm.management == [("/key/generate", "sk-service", {"key_alias": "x"})]


def test_when_litellm_cannot_tell_the_teams_the_team_is_refused(litellm: FakeLiteLLM) -> None:
    litellm.teams = {}
    response = generate(litellm, "sk-alice", {"team_id": "team-a"})
    assert response.status_code == 403 and response.json()["error"]["param"] == "team_id"


def test_the_master_key_passes_unchanged(litellm: FakeLiteLLM) -> None:
    raw = b'{"user_id": "anyone",  "team_id": "team-z", "max_budget": 5}'
    response = generate(litellm, MASTER_KEY, raw)
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(response.content))  # relayed whole, not as a stream
    assert litellm.management == [("/key/generate", MASTER_KEY, json.loads(raw))]
    assert litellm.key_questions == 0


def test_the_master_key_may_send_an_empty_body(litellm: FakeLiteLLM) -> None:
    response = generate(litellm, MASTER_KEY, b"")
    assert response.status_code == 200
    assert litellm.management == [("/key/generate", MASTER_KEY, None)]


class UserInfoNotAnObject(FakeLiteLLM):
    async def _user_info(self, request: Request) -> Response:
        return JSONResponse(["team-a"])  # a 200 LiteLLM never means: no teams can be read from it


def test_a_user_info_answer_that_is_not_an_object_grants_no_team(clock: Any, master_key: str) -> None:
    response = generate(UserInfoNotAnObject(), "sk-alice", {"team_id": "team-a"})
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "The caller is not a member of team team-a"
