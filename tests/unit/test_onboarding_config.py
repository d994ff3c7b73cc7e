"""Onboarding configuration and refusals that need no issuer (the rest runs against a local one)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient
from user_keys.app import create_app
from user_keys.config import OnboardingConfig, get_config


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.delenv("OKTA_ISSUER", raising=False)
    get_config.cache_clear()
    with TestClient(create_app()) as test_client:
        yield test_client
    get_config.cache_clear()


def test_defaults_come_from_the_environment() -> None:
    config = OnboardingConfig.from_env(
        {
            "OKTA_ISSUER": "https://x.okta.com/oauth2/default/",
            "ONBOARDING_MAX_BUDGET": "25",
            "ONBOARDING_MODELS": "a, b",
            "OKTA_GROUP_TEAMS": '{"g": "t"}',
        }
    )
    assert config.issuer == "https://x.okta.com/oauth2/default" and config.audience == "api://default"
    assert config.defaults == {"max_budget": 25.0, "models": ["a", "b"]} and config.group_teams == {"g": "t"}
    assert not OnboardingConfig.from_env({}).enabled


def test_a_jwt_is_refused_clearly_when_onboarding_is_off(client: TestClient) -> None:
    response = client.post("/user/new", headers={"Authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig"}, json={})
    assert response.status_code == 401 and "not configured" in response.json()["error"]["message"]
    assert client.post("/user/new", json={}).status_code == 401


def test_an_http_issuer_needs_explicit_permission(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OKTA_ISSUER", "http://127.0.0.1:9/oauth2/default")
    get_config.cache_clear()
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    token = jwt.encode(
        {"sub": "x"},
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        algorithm="RS256",
        headers={"kid": "k"},
    )
    response = client.post("/user/new", headers={"Authorization": f"Bearer {token}"}, json={})
    assert response.status_code == 401 and "not https" in response.json()["error"]["message"]
