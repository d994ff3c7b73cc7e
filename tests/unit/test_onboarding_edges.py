"""POST /user/new's less travelled paths: a master key without LiteLLM's "sk-" prefix, a gateway
without Okta, an onboarded person's metadata on their next key, and LiteLLM failing."""

from __future__ import annotations

import pytest
from gateway_core import secrets
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.testclient import TestClient
from user_keys.app import create_app
from user_keys.config import get_config

from tests.unit import fake_litellm
from tests.unit.fake_litellm import FakeLiteLLM
from tests.unit.test_onboarding import Issuer, issuer, new_user, token  # noqa: F401 (issuer: a fixture)


def test_a_master_key_without_the_sk_prefix_is_forwarded_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "_value", "plain-master")  # GATEWAY_MASTER_KEY as a local shell may set it
    monkeypatch.setattr(fake_litellm, "MASTER_KEY", "plain-master")
    litellm = FakeLiteLLM()
    response = new_user(litellm, "plain-master", {"user_id": "robot", "max_budget": 5})
    assert response.status_code == 200, response.text
    assert response.headers["content-length"] == str(len(response.content))  # relayed whole, not as a stream
    assert litellm.management == [("/user/new", "plain-master", {"user_id": "robot", "max_budget": 5})]


def test_without_okta_a_token_that_is_no_key_is_told_to_use_a_key(
    monkeypatch: pytest.MonkeyPatch, master_key: str
) -> None:
    monkeypatch.delenv("OKTA_ISSUER", raising=False)
    get_config.cache_clear()
    try:
        response = new_user(FakeLiteLLM(), "eyJ.not-a-key")
    finally:
        get_config.cache_clear()
    assert (response.status_code, response.json()["error"]["message"]) == (
        401,
        "Okta onboarding is not configured on this gateway (OKTA_ISSUER); use a LiteLLM key",
    )


def test_an_onboarded_persons_next_key_keeps_its_alias_duration_and_metadata(issuer: Issuer) -> None:  # noqa: F811
    litellm = FakeLiteLLM(users={"ann@example.com"})
    body = {"key_alias": "ci", "duration": "7d", "metadata": {"purpose": "ci"}}
    assert new_user(litellm, token(), body).status_code == 200
    assert litellm.management[-1] == ("/key/generate", fake_litellm.MASTER_KEY, {"user_id": "ann@example.com", **body})


class FailingLiteLLM(FakeLiteLLM):
    async def _user_new(self, request: Request) -> Response:
        return JSONResponse({"error": {"message": "database unavailable"}}, 503)


def test_a_litellm_failure_is_relayed_and_logged_with_its_status(
    issuer: Issuer,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = TestClient(create_app(litellm=FailingLiteLLM().client()))
    with caplog.at_level("WARNING", logger="gateway"):
        response = client.post("/user/new", json={}, headers={"Authorization": f"Bearer {token()}"})
    assert (response.status_code, response.json()) == (503, {"error": {"message": "database unavailable"}})
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        "onboarding failed in LiteLLM (HTTP 503)"
    ]
