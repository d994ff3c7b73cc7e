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


def test_every_setting_is_read_from_its_variable() -> None:
    config = OnboardingConfig.from_env(
        {
            "OKTA_ISSUER": " https://x.okta.com/oauth2/default/ ",
            "OKTA_AUDIENCE": " api://gateway ",
            "OKTA_LEEWAY_S": "5",
            "OKTA_ALLOW_HTTP_ISSUER": "true",
            "OKTA_JWKS_MIN_REFRESH_S": "7",
            "OKTA_JWKS_MAX_AGE_S": "600",
            "OKTA_GROUPS_CLAIM": "roles",
            "OKTA_GROUP_TEAMS": '{"g": "t"}',
            "ONBOARDING_MAX_BUDGET": "2.5",
            "ONBOARDING_BUDGET_DURATION": " 30d ",
            "ONBOARDING_TPM_LIMIT": "1000",
            "ONBOARDING_RPM_LIMIT": "10",
            "ONBOARDING_MAX_PARALLEL_REQUESTS": "2",
            "ONBOARDING_MODELS": " a , ,b ",
        }
    )
    assert config == OnboardingConfig(
        issuer="https://x.okta.com/oauth2/default",
        audience="api://gateway",
        leeway_s=5.0,
        allow_http_issuer=True,
        jwks_min_refresh_s=7.0,
        jwks_max_age_s=600.0,
        groups_claim="roles",
        group_teams={"g": "t"},
        defaults={
            "max_budget": 2.5,
            "budget_duration": "30d",
            "tpm_limit": 1000,
            "rpm_limit": 10,
            "max_parallel_requests": 2,
            "models": ["a", "b"],
        },
    )


def test_unset_settings_take_their_documented_defaults() -> None:
    assert OnboardingConfig.from_env({"OKTA_AUDIENCE": " "}) == OnboardingConfig(
        issuer="",
        audience="api://default",
        leeway_s=60.0,
        allow_http_issuer=False,
        jwks_min_refresh_s=60.0,
        jwks_max_age_s=3600.0,
        groups_claim="groups",
        group_teams={},
        defaults={},
    )
