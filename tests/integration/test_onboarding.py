"""Okta JWT onboarding and self-service keys, against a local HTTPS issuer, LiteLLM and Postgres."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from local.template import REPO_ROOT
from tests.integration.conftest import JWKS_MIN_REFRESH_S, OKTA_GROUP_TEAMS, LocalStack
from tests.integration.okta_issuer import OktaIssuer
from tests.integration.test_bedrock_interface import hook_client

pytestmark = pytest.mark.integration
HI = [{"role": "user", "content": "hi"}]


def onboard(stack: LocalStack, token: str, body: dict[str, Any] | None = None) -> httpx.Response:
    return httpx.post(
        f"{stack.gateway_url}/user/new",
        headers={"Authorization": f"Bearer {token}"},
        json=body if body is not None else {},
        timeout=30,
    )


def litellm_user(stack: LocalStack, user_id: str) -> dict[str, Any] | None:
    response = httpx.get(
        f"{stack.litellm_url}/user/info",
        params={"user_id": user_id},
        headers={"Authorization": f"Bearer {stack.master_key}"},
        timeout=30,
    )
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    info: dict[str, Any] = response.json()["user_info"]
    return info


def generate(stack: LocalStack, key: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{stack.gateway_url}/key/generate", headers={"Authorization": f"Bearer {key}"}, json=body, timeout=30
    )


def new_sub() -> str:
    return f"okta-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def engineering_team(stack: LocalStack) -> str:
    team_id = OKTA_GROUP_TEAMS["okta-engineering"]
    admin = {"Authorization": f"Bearer {stack.master_key}"}
    # Team members may mint team keys only where the team allows it (LiteLLM's own rule).
    response = httpx.post(
        f"{stack.litellm_url}/team/new",
        headers=admin,
        json={"team_id": team_id, "team_alias": "engineering"},
        timeout=30,
    )
    assert response.status_code == 200 or "already exists" in response.text, response.text
    permissions = {"team_id": team_id, "team_member_permissions": ["/key/generate", "/key/info"]}
    response = httpx.post(f"{stack.litellm_url}/team/permissions_update", headers=admin, json=permissions, timeout=30)
    assert response.status_code == 200, response.text
    return team_id


def test_onboarding_happy_path(stack: LocalStack, okta: OktaIssuer, engineering_team: str) -> None:
    sub = new_sub()
    response = onboard(stack, okta.token(sub, groups=["okta-engineering", "unmapped-group"]))
    assert response.status_code == 200, response.text
    created = response.json()
    assert (created["user_id"], created["user_email"], created["user_role"]) == (
        sub,
        f"{sub}@example.com",
        "internal_user",
    )
    key = created["key"]
    assert key.startswith("sk-") and stack.master_key not in response.text

    user = litellm_user(stack, sub)
    assert (
        user is not None
        and user["user_role"] == "internal_user"
        and user["max_budget"] == 25
        and user["rpm_limit"] == 100
    )
    assert (
        user["budget_duration"] == "30d"
        and sorted(user["models"]) == ["fake-embedding", "fake-gpt"]
        and user["teams"] == [engineering_team]
    )

    assert stack.openai(key).chat.completions.create(model="fake-gpt", messages=HI).choices[0].message.content
    assert hook_client(stack, key).converse(
        modelId="fake-gpt", messages=[{"role": "user", "content": [{"text": "hi"}]}]
    )["output"]["message"]["content"]

    minted = generate(stack, key, {"user_id": sub, "key_alias": f"{sub}-laptop"})
    assert minted.status_code == 200, minted.text
    assert minted.json()["user_id"] == sub and stack.openai(minted.json()["key"]).chat.completions.create(
        model="fake-gpt", messages=HI
    )
    assert generate(stack, key, {}).json()["user_id"] == sub  # no user_id: the caller's own

    token = okta.token(sub)
    again = onboard(stack, token)  # already onboarded: a new key, not an error
    assert again.status_code == 200 and again.json()["existing_user"] is True
    assert again.json()["user_id"] == sub and again.json()["key"] not in {key, minted.json()["key"]}

    gateway_log = (REPO_ROOT / ".local" / "test-stack" / "logs" / "gateway.log").read_text()
    assert "onboarded user" in gateway_log
    for secret in (stack.master_key, token, key):
        assert secret not in gateway_log


def test_email_falls_back_to_sub(stack: LocalStack, okta: OktaIssuer) -> None:
    sub = new_sub()
    response = onboard(stack, okta.token(sub, email=None))
    assert response.status_code == 200 and response.json()["user_email"] == sub


def test_key_generate_for_someone_else_is_refused(stack: LocalStack, okta: OktaIssuer, engineering_team: str) -> None:
    sub, other = new_sub(), new_sub()
    key = onboard(stack, okta.token(sub)).json()["key"]  # not in the engineering group
    assert onboard(stack, okta.token(other)).status_code == 200
    for body, param in (
        ({"user_id": other}, "user_id"),
        ({"team_id": engineering_team}, "team_id"),
        ({"user_id": sub, "team_id": "no-such-team"}, "team_id"),
    ):
        refused = generate(stack, key, body)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["param"] == param and refused.json()["error"]["type"] == "permission_error"
    member_key = onboard(stack, okta.token(new_sub(), groups=["okta-engineering"])).json()["key"]
    assert generate(stack, member_key, {"team_id": engineering_team}).status_code == 200


def test_litellm_keys_reach_litellms_own_user_new(stack: LocalStack) -> None:
    user_id = f"admin-made-{uuid.uuid4().hex[:8]}"
    made = httpx.post(
        f"{stack.gateway_url}/user/new",
        headers={"Authorization": f"Bearer {stack.master_key}"},
        json={"user_id": user_id, "max_budget": 3},
    )
    assert made.status_code == 200 and made.json()["max_budget"] == 3
    non_admin = made.json()["key"]
    denied = httpx.post(
        f"{stack.gateway_url}/user/new", headers={"Authorization": f"Bearer {non_admin}"}, json={"user_id": "escalate"}
    )
    assert denied.status_code in {401, 403} and litellm_user(stack, "escalate") is None


def test_key_rotation_is_picked_up(stack: LocalStack, okta: OktaIssuer) -> None:
    time.sleep(JWKS_MIN_REFRESH_S + 0.2)
    before = okta.jwks_fetches
    okta.rotate()
    sub = new_sub()
    assert onboard(stack, okta.token(sub)).status_code == 200
    assert okta.jwks_fetches == before + 1 and litellm_user(stack, sub) is not None


def test_unknown_kids_cannot_hammer_the_issuer(stack: LocalStack, okta: OktaIssuer) -> None:
    """Refetches are at least OKTA_JWKS_MIN_REFRESH_S apart, so however slow the machine, 20 made-up
    kids cost at most one fetch per elapsed interval plus one (without the limit: 20). The exact
    boundaries are proved on a fake clock in tests/unit/test_onboarding.py."""
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tokens = [okta.token(new_sub(), kid=f"made-up-{n}", key=stranger) for n in range(20)]
    before, started = okta.jwks_fetches, time.monotonic()
    for made_up in tokens:
        assert onboard(stack, made_up).status_code == 401
    elapsed = time.monotonic() - started
    assert okta.jwks_fetches - before <= 1 + int(elapsed / JWKS_MIN_REFRESH_S)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256_with_public_key(okta: OktaIssuer, sub: str) -> str:
    public = (
        okta.keys[okta.current_kid]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": okta.current_kid}).encode())
    signing_input = f"{header}.{_b64(json.dumps(okta.claims(sub)).encode())}"
    return f"{signing_input}.{_b64(hmac.new(public, signing_input.encode(), hashlib.sha256).digest())}"


def _tampered(okta: OktaIssuer, sub: str) -> str:
    header, _, signature = okta.token(sub).split(".")
    return f"{header}.{_b64(json.dumps(okta.claims(sub, groups=['admins'])).encode())}.{signature}"


def _forged(okta: OktaIssuer, sub: str) -> str:
    return okta.token(
        sub, key=rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )  # a published kid, another key


ATTACKS: dict[str, Callable[[OktaIssuer, str], str]] = {
    "alg none": lambda o, s: jwt.encode(o.claims(s), None, algorithm="none", headers={"kid": o.current_kid}),
    "HS256 signed with the public key": _hs256_with_public_key,
    "expired": lambda o, s: o.token(s, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
    "not yet valid": lambda o, s: o.token(s, nbf=int(time.time()) + 3600),
    "issued in the future": lambda o, s: o.token(s, iat=int(time.time()) + 3600),
    "wrong issuer": lambda o, s: o.token(s, iss="https://evil.example.com/oauth2/default"),
    "wrong audience": lambda o, s: o.token(s, aud="api://someone-else"),
    "no expiry": lambda o, s: o.token(s, exp=None),
    "unknown kid": lambda o, s: o.token(
        s, kid="unknown-kid", key=rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ),
    "tampered payload": _tampered,
    "forged signature": _forged,
    "garbage": lambda o, s: "not-a.jwt",
}


@pytest.mark.parametrize("attack", ATTACKS)
def test_attacks_are_rejected_and_create_nobody(stack: LocalStack, okta: OktaIssuer, attack: str) -> None:
    sub = new_sub()
    response = onboard(stack, ATTACKS[attack](okta, sub))
    assert response.status_code == 401, response.text
    assert response.json()["error"]["type"] == "authentication_error"
    assert litellm_user(stack, sub) is None


def test_token_without_sub_is_rejected(stack: LocalStack, okta: OktaIssuer) -> None:
    response = onboard(stack, okta.token("ignored", sub=None))
    assert response.status_code == 401 and "sub" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"max_budget": 1_000_000}, 403, "max_budget"),
        ({"user_role": "proxy_admin"}, 403, "user_role"),
        ({"teams": ["team-engineering"]}, 403, "teams"),
        ({"models": ["*"], "rpm_limit": 10_000}, 403, "rpm_limit"),
        ({"user_id": "someone-else"}, 403, "user_id"),
        ({"surprise": True}, 400, "surprise"),
    ],
)
def test_privileged_fields_are_refused(
    stack: LocalStack, okta: OktaIssuer, body: dict[str, Any], status: int, param: str
) -> None:
    sub = new_sub()
    response = onboard(stack, okta.token(sub), body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["param"] in {param, next(iter(body))}
    assert param in response.json()["error"]["message"]
    assert litellm_user(stack, sub) is None
