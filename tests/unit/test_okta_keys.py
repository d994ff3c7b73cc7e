"""The onboarding function's signing-key cache: which discovery document it trusts, which JWKS
entries become keys, and the issuer-scheme and malformed-token refusals (reason included)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from user_keys.config import OnboardingConfig
from user_keys.okta import JwksCache, TokenRejected, verify_token

ISSUER = "https://okta.test/oauth2/default"
DISCOVERY = f"{ISSUER}/.well-known/openid-configuration"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(kid: str, **extra: Any) -> dict[str, Any]:
    return {**json.loads(RSAAlgorithm.to_jwk(KEY.public_key())), "kid": kid, **extra}


class Documents(JwksCache):
    """A cache whose issuer answers from ``answers`` (url -> (status, document))."""

    def __init__(self, answers: dict[str, tuple[int, Any]], issuer: str = ISSUER) -> None:
        super().__init__(OnboardingConfig(issuer=issuer))
        self.answers = answers

    async def _get_json(self, url: str) -> tuple[int, Any]:
        return self.answers.get(url, (404, {}))


def jwks_uri_of(discovery: tuple[int, Any]) -> str:
    cache = Documents({DISCOVERY: discovery})
    return asyncio.run(cache._discover())


@pytest.mark.parametrize(
    ("discovery", "used"),
    [
        ((200, {"issuer": ISSUER + "/", "jwks_uri": "https://okta.test/keys"}), "https://okta.test/keys"),
        ((200, {"jwks_uri": "https://okta.test/keys"}), "https://okta.test/keys"),  # no issuer member
        ((404, {"issuer": ISSUER, "jwks_uri": "https://okta.test/keys"}), f"{ISSUER}/v1/keys"),
        ((200, {"issuer": "https://evil.test", "jwks_uri": "https://evil.test/keys"}), f"{ISSUER}/v1/keys"),
        ((200, {"issuer": ISSUER, "jwks_uri": None}), f"{ISSUER}/v1/keys"),
    ],
)
def test_discovery_is_trusted_only_as_a_200_for_this_issuer_naming_a_jwks(
    discovery: tuple[int, Any], used: str
) -> None:
    assert jwks_uri_of(discovery) == used


def keys_from(entries: Any) -> list[str]:
    cache = Documents({DISCOVERY: (404, {}), f"{ISSUER}/v1/keys": (200, entries)})
    asyncio.run(cache._refresh())
    return sorted(cache.keys)


def test_only_rsa_signing_keys_with_an_id_are_kept() -> None:
    entries = [
        "not a key",
        jwk("", use="sig"),  # no id
        {**jwk("ec"), "kty": "EC"},
        jwk("enc", use="enc"),
        jwk("sig", use="sig"),
        jwk("unmarked"),  # no use: a signing key
        jwk("mislabelled", alg="HS256"),  # read as the RS256 key it is
    ]
    assert keys_from({"keys": entries}) == ["mislabelled", "sig", "unmarked"]
    assert keys_from({"no": "keys"}) == []


def test_a_jwks_answer_other_than_200_is_a_rejection_with_its_reason() -> None:
    cache = Documents({DISCOVERY: (404, {}), f"{ISSUER}/v1/keys": (500, {})})
    with pytest.raises(TokenRejected) as rejected:
        asyncio.run(cache._refresh())
    assert (str(rejected.value), rejected.value.reason) == (
        "The issuer's signing keys could not be fetched (ValueError)",
        "jwks_unavailable",
    )
    assert isinstance(rejected.value.__cause__, ValueError) and str(rejected.value.__cause__) == "HTTP 500"


def test_a_mislabelled_key_verifies_rs256_tokens() -> None:
    cache = Documents({DISCOVERY: (404, {}), f"{ISSUER}/v1/keys": (200, {"keys": [jwk("k", alg="HS256")]})})
    claims = {"iss": ISSUER, "aud": "api://default", "sub": "ann", "iat": 1, "exp": 4_000_000_000}
    token = jwt.encode(claims, KEY, algorithm="RS256", headers={"kid": "k"})
    assert asyncio.run(verify_token(token, cache))["sub"] == "ann"


@pytest.mark.parametrize(
    ("issuer", "token", "message", "reason"),
    [
        (
            "http://okta.test/oauth2/default",
            jwt.encode({"sub": "x"}, KEY, algorithm="RS256", headers={"kid": "k"}),
            "The configured issuer is not https (set OKTA_ALLOW_HTTP_ISSUER only for local development)",
            "issuer_config",
        ),
        (ISSUER, "not.a.jwt", "The token is not a well-formed JWT", "malformed"),
        (
            ISSUER,
            jwt.encode({"sub": "x"}, "a-shared-secret-of-32-bytes-long", algorithm="HS256", headers={"kid": "k"}),
            "Token algorithm 'HS256' is not allowed",
            "algorithm",
        ),
        (
            ISSUER,
            jwt.encode({"sub": "x"}, KEY, algorithm="RS256", headers={"kid": ""}),
            "The token names no signing key (kid)",
            "unknown_key",
        ),
        (  # every claim the gateway relies on is required: here iat is missing
            ISSUER,
            jwt.encode(
                {"iss": ISSUER, "aud": "api://default", "sub": "x", "exp": 4_000_000_000},
                KEY,
                algorithm="RS256",
                headers={"kid": "k"},
            ),
            'Invalid token: Token is missing the "iat" claim',
            "missing_claim",
        ),
    ],
)
def test_refusals_before_any_key_is_fetched(issuer: str, token: str, message: str, reason: str) -> None:
    cache = Documents({DISCOVERY: (404, {}), f"{ISSUER}/v1/keys": (200, {"keys": [jwk("k")]})}, issuer=issuer)
    with pytest.raises(TokenRejected) as rejected:
        asyncio.run(verify_token(token, cache))
    assert (str(rejected.value), rejected.value.reason) == (message, reason)
