"""POST /user/new through the user_keys app's real route: an Okta JWT becomes a LiteLLM user and
key with exactly the deployment's defaults; a LiteLLM key passes through untouched.

The issuer's discovery document and JWKS are served from memory (``JwksCache._get_json``; a
real HTTPS issuer runs in the integration suite); tokens are signed with a key made here.
LiteLLM is faked in process (``tests.unit.fake_litellm``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.testclient import TestClient
from user_keys import onboarding
from user_keys.app import create_app
from user_keys.config import get_config
from user_keys.okta import JwksCache

from tests.unit.conftest import FakeClock
from tests.unit.fake_litellm import MASTER_KEY, FakeLiteLLM

ISSUER = "https://okta.test/oauth2/default"
AUDIENCE = "api://gateway"
SIGNING_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    return {**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": kid, "use": "sig", "alg": "RS256"}


def token(key: rsa.RSAPrivateKey = SIGNING_KEY, kid: str = "k1", **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "ann@example.com",
        "email": "ann@example.com",
        "iat": now,
        "exp": now + 300,
        "groups": ["Engineering", "Everyone"],
        **claims,
    }
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, key, algorithm="RS256", headers={"kid": kid})


class Issuer:
    def __init__(self, url: str = ISSUER, jwks_path: str = "/v1/keys") -> None:
        self.url, self.jwks_uri = url, url + jwks_path
        self.fetches: list[str] = []
        self.down = False  # answers 503 to everything
        self.keys: list[dict[str, Any]] = [jwk(SIGNING_KEY, "k1"), {"kid": "enc", "kty": "RSA", "use": "enc"}]

    async def get_json(self, url: str) -> tuple[int, Any]:
        self.fetches.append(url)
        if self.down:
            return 503, {}
        if url == f"{self.url}/.well-known/openid-configuration":
            return 200, {"issuer": self.url, "jwks_uri": self.jwks_uri}
        if url == self.jwks_uri:
            return 200, {"keys": self.keys}
        return 404, {}


@pytest.fixture
def issuer(monkeypatch: pytest.MonkeyPatch, master_key: str) -> Iterator[Issuer]:
    for name, value in {
        "OKTA_ISSUER": ISSUER + "/",
        "OKTA_AUDIENCE": AUDIENCE,
        "OKTA_GROUP_TEAMS": '{"Engineering": "team-eng", "Finance": "team-fin"}',
        "ONBOARDING_MAX_BUDGET": "25",
        "ONBOARDING_BUDGET_DURATION": "30d",
        "ONBOARDING_MODELS": "claude, gpt",
    }.items():
        monkeypatch.setenv(name, value)
    get_config.cache_clear()
    monkeypatch.setattr(onboarding, "_jwks", None)
    fake = Issuer()
    monkeypatch.setattr(JwksCache, "_get_json", fake.get_json)
    yield fake
    get_config.cache_clear()


@pytest.fixture
def litellm() -> FakeLiteLLM:
    return FakeLiteLLM()


def new_user(litellm: FakeLiteLLM, bearer: str, body: dict[str, Any] | None = None) -> Any:
    client = TestClient(create_app(litellm=litellm.client()))
    return client.post("/user/new", json=body or {}, headers={"Authorization": f"Bearer {bearer}"})


EXPECTED_USER = {
    "user_id": "ann@example.com",
    "user_email": "ann@example.com",
    "user_role": "internal_user",
    "max_budget": 25.0,
    "budget_duration": "30d",
    "models": ["claude", "gpt"],
    "teams": ["team-eng"],
}


def test_an_okta_token_creates_the_user_with_the_deployments_defaults(issuer: Issuer, litellm: FakeLiteLLM) -> None:
    response = new_user(litellm, token(), {"key_alias": "laptop", "user_id": "ann@example.com"})
    assert response.status_code == 200, response.text
    assert response.json() == {"user_id": "ann@example.com", "key": "sk-new-user-key", "user_email": "ann@example.com"}
    assert litellm.management == [("/user/new", MASTER_KEY, {**EXPECTED_USER, "key_alias": "laptop"})]
    assert issuer.fetches == [f"{ISSUER}/.well-known/openid-configuration", f"{ISSUER}/v1/keys"]


def test_a_person_already_onboarded_gets_a_new_key_for_the_same_user(issuer: Issuer, litellm: FakeLiteLLM) -> None:
    assert new_user(litellm, token()).status_code == 200
    again = new_user(litellm, token(), {"key_alias": "desktop", "duration": "7d"})
    assert again.status_code == 200
    assert again.json() == {
        "user_id": "ann@example.com",
        "key": "sk-another-key",
        "user_email": "ann@example.com",
        "existing_user": True,
    }
    assert litellm.management[-1] == (
        "/key/generate",
        MASTER_KEY,
        {"user_id": "ann@example.com", "key_alias": "desktop", "duration": "7d"},
    )


def test_without_an_email_the_subject_is_the_email_and_no_group_means_no_team(
    issuer: Issuer, litellm: FakeLiteLLM
) -> None:
    assert new_user(litellm, token(sub="00u1", email=None, groups=["Everyone"])).status_code == 200
    ((_, _, body),) = litellm.management
    assert (body["user_id"], body["user_email"], "teams" in body) == ("00u1", "00u1", False)


@pytest.mark.parametrize(
    ("body", "status", "named"),
    [
        ({"max_budget": 1000}, 403, "max_budget"),
        ({"key_alias": "x", "models": ["all"]}, 403, "models"),
        ({"user_role": "proxy_admin"}, 403, "user_role"),
        ({"user_id": "bob@example.com"}, 403, "user_id"),
        ({"user_email": "bob@example.com"}, 403, "user_email"),
        ({"favourite_colour": "blue"}, 400, "favourite_colour"),
    ],
)
def test_fields_the_caller_may_not_choose_are_refused_by_name(
    issuer: Issuer, litellm: FakeLiteLLM, body: dict[str, Any], status: int, named: str
) -> None:
    response = new_user(litellm, token(), body)
    assert response.status_code == status
    assert named in response.json()["error"]["message"] and response.json()["error"]["param"] == named
    assert litellm.management == []


@pytest.mark.parametrize(
    ("make", "message"),  # tokens made when the test runs: a collected one could expire first
    [
        (lambda: token(exp=int(time.time()) - 3600), "Signature has expired"),
        (lambda: token(aud="api://someone-else"), "Audience doesn't match"),
        (lambda: token(iss="https://evil.test"), "Invalid issuer"),
        (lambda: token(key=OTHER_KEY), "Signature verification failed"),
        (lambda: token(kid="unknown"), "unknown key"),
        (lambda: token(sub=" "), "no subject"),
        (
            lambda: jwt.encode({"sub": "x"}, "secret-secret-secret-secret-32by", algorithm="HS256"),
            "'HS256' is not allowed",
        ),
        (lambda: "not.a.jwt", "not a well-formed JWT"),
    ],
)
def test_bad_tokens_are_refused_with_their_reason(
    issuer: Issuer, litellm: FakeLiteLLM, make: Callable[[], str], message: str
) -> None:
    response = new_user(litellm, make())
    assert response.status_code == 401 and response.json()["error"]["type"] == "authentication_error"
    assert message in response.json()["error"]["message"]
    assert litellm.management == []


def test_every_refused_field_is_named(issuer: Issuer, litellm: FakeLiteLLM) -> None:
    response = new_user(litellm, token(), {"max_budget": 1, "models": ["x"]})
    assert response.json()["error"]["message"] == (
        "These fields are set by the deployment, not by the caller: max_budget, models"
    )


@pytest.mark.parametrize("bearer", ["sk-alice", MASTER_KEY])
def test_a_litellm_key_is_forwarded_untouched(issuer: Issuer, litellm: FakeLiteLLM, bearer: str) -> None:
    body = {"user_id": "x", "max_budget": 5}
    response = new_user(litellm, bearer, body)
    assert response.status_code == 200
    assert litellm.management == [("/user/new", bearer, body)]
    assert issuer.fetches == []  # no JWT work for a LiteLLM key


class _LocalIssuer:
    """The issuer over real HTTP on 127.0.0.1 (aiohttp fetches it as in AWS), for the fetch itself."""

    def __init__(self, jwks_path: str = "/keys") -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        issuer = self
        self.paths: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                issuer.paths.append(self.path)
                if self.path == "/.well-known/openid-configuration":
                    body: Any = {"issuer": issuer.url, "jwks_uri": issuer.url + jwks_path}
                elif self.path == jwks_path:
                    body = {"keys": [jwk(SIGNING_KEY, "k1")]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # close() returns at the loop's next poll (0.5 s by default).
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("allowed", [True, False])
def test_the_jwks_is_fetched_over_http_only_when_allowed(
    master_key: str, monkeypatch: pytest.MonkeyPatch, litellm: FakeLiteLLM, allowed: bool
) -> None:
    local = _LocalIssuer()
    try:
        monkeypatch.setenv("OKTA_ISSUER", local.url)
        monkeypatch.setenv("OKTA_AUDIENCE", AUDIENCE)
        monkeypatch.setenv("OKTA_ALLOW_HTTP_ISSUER", "true" if allowed else "false")
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # the issuer is fetched directly, never via a proxy
        get_config.cache_clear()
        monkeypatch.setattr(onboarding, "_jwks", None)
        response = new_user(litellm, token(iss=local.url))
        if allowed:
            assert response.status_code == 200, response.text
            assert local.paths == ["/.well-known/openid-configuration", "/keys"]
        else:
            assert response.status_code == 401 and "not https" in response.json()["error"]["message"]
            assert local.paths == []
    finally:
        local.close()
        get_config.cache_clear()


DISCOVERY, KEYS = f"{ISSUER}/.well-known/openid-configuration", f"{ISSUER}/v1/keys"


@pytest.fixture
def jwks_clock(issuer: Issuer, monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The route's JWKS cache on a clock the test moves (OKTA_JWKS_MIN_REFRESH_S 60, MAX_AGE 3600)."""
    fake = FakeClock()
    monkeypatch.setattr(onboarding, "_jwks", JwksCache(get_config(), clock=fake))
    return fake


def test_unknown_kids_refetch_the_jwks_at_most_once_per_min_refresh(
    issuer: Issuer, litellm: FakeLiteLLM, jwks_clock: FakeClock
) -> None:
    assert new_user(litellm, token()).status_code == 200
    assert issuer.fetches == [DISCOVERY, KEYS]
    jwks_clock.advance(59.5)
    for n in range(5):  # within the minimum interval: refused without asking the issuer
        refused = new_user(litellm, token(key=OTHER_KEY, kid=f"made-up-{n}"))
        assert (refused.status_code, refused.json()["error"]["message"]) == (
            401,
            "The token is signed with an unknown key",
        )
    assert issuer.fetches == [DISCOVERY, KEYS]
    jwks_clock.advance(0.5)  # exactly OKTA_JWKS_MIN_REFRESH_S after the fetch: one refetch (a rotation)
    for n in range(5):
        assert new_user(litellm, token(key=OTHER_KEY, kid=f"again-{n}")).status_code == 401
    assert issuer.fetches == [DISCOVERY, KEYS, KEYS]  # the jwks_uri is remembered
    assert litellm.management == [("/user/new", MASTER_KEY, EXPECTED_USER)]


def test_known_keys_are_refetched_only_after_max_age(
    issuer: Issuer, litellm: FakeLiteLLM, jwks_clock: FakeClock
) -> None:
    assert new_user(litellm, token()).status_code == 200
    jwks_clock.advance(3600)  # OKTA_JWKS_MAX_AGE_S exactly: still fresh
    assert new_user(litellm, token()).status_code == 200
    assert issuer.fetches == [DISCOVERY, KEYS]
    jwks_clock.advance(0.5)
    assert new_user(litellm, token()).status_code == 200
    assert issuer.fetches == [DISCOVERY, KEYS, KEYS]


def test_an_issuer_outage_keeps_the_cached_keys_and_the_rate_limit(
    issuer: Issuer, litellm: FakeLiteLLM, jwks_clock: FakeClock
) -> None:
    assert new_user(litellm, token()).status_code == 200
    issuer.down = True
    jwks_clock.advance(3601)  # stale: the refresh fails, the cached key still verifies
    assert new_user(litellm, token()).status_code == 200
    assert issuer.fetches == [DISCOVERY, KEYS, KEYS]
    unknown = new_user(litellm, token(key=OTHER_KEY, kid="rotated"))  # the failed refresh started the interval
    assert unknown.json()["error"]["message"] == "The token is signed with an unknown key"
    assert issuer.fetches == [DISCOVERY, KEYS, KEYS]
    jwks_clock.advance(60)
    unavailable = new_user(litellm, token(key=OTHER_KEY, kid="rotated"))
    assert (unavailable.status_code, unavailable.json()["error"]["message"]) == (
        401,
        "The issuer's signing keys could not be fetched (ValueError)",
    )
    assert issuer.fetches == [DISCOVERY, KEYS, KEYS, KEYS]


def _emf(out: str, request_id: str) -> dict[str, Any]:
    """The request's EMF metrics line (printed to stdout at the end of each request)."""
    (line,) = [doc for doc in map(json.loads, out.splitlines()) if doc.get("request_id") == request_id]
    return dict(line)


def test_an_onboarded_user_is_counted_and_logged(
    issuer: Issuer, litellm: FakeLiteLLM, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="gateway"):
        response = new_user(litellm, token())
    assert response.status_code == 200
    assert _emf(capsys.readouterr().out, response.headers["x-gateway-request-id"])["UsersCreated"] == [1.0]
    (onboarded,) = [r for r in caplog.records if r.getMessage() == "onboarded user via Okta"]
    assert onboarded.user_id == "ann@example.com"  # type: ignore[attr-defined]


def test_an_unreachable_jwks_is_a_rejection_with_its_reason(
    issuer: Issuer, litellm: FakeLiteLLM, capsys: pytest.CaptureFixture[str]
) -> None:
    issuer.down = True
    response = new_user(litellm, token())
    assert response.json()["error"]["message"] == "The issuer's signing keys could not be fetched (ValueError)"
    assert _emf(capsys.readouterr().out, response.headers["x-gateway-request-id"])["reason"] == "jwks_unavailable"


def test_a_key_without_use_is_a_signing_key_and_a_broken_key_skips_only_itself(
    issuer: Issuer, litellm: FakeLiteLLM
) -> None:
    broken = {"kid": "broken", "kty": "RSA", "n": "not-base64!", "e": "AQAB"}
    issuer.keys = [broken, {k: v for k, v in jwk(SIGNING_KEY, "k1").items() if k != "use"}]
    assert new_user(litellm, token()).status_code == 200


@pytest.mark.parametrize("field", ["key_alias", "user_alias", "duration"])
def test_text_fields_of_another_type_are_a_400_naming_them(issuer: Issuer, litellm: FakeLiteLLM, field: str) -> None:
    response = new_user(litellm, token(), {field: 5})
    assert response.status_code == 400
    assert response.json()["error"] == {
        "message": f"{field} must be a string",
        "type": "invalid_request_error",
        "param": field,
        "code": "invalid_request",
    }


def test_an_issuer_whose_id_ends_in_x_uses_its_discovered_jwks(
    issuer: Issuer, litellm: FakeLiteLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    okta_x = Issuer("https://okta.test/oauth2/aus9X", jwks_path="/discovered/keys")  # Okta ids are alphanumeric
    monkeypatch.setenv("OKTA_ISSUER", okta_x.url)
    get_config.cache_clear()
    monkeypatch.setattr(JwksCache, "_get_json", okta_x.get_json)
    assert new_user(litellm, token(iss=okta_x.url)).status_code == 200
    assert okta_x.fetches == [f"{okta_x.url}/.well-known/openid-configuration", f"{okta_x.url}/discovered/keys"]


def test_the_master_key_may_send_an_empty_body(issuer: Issuer, litellm: FakeLiteLLM) -> None:
    client = TestClient(create_app(litellm=litellm.client()))
    response = client.post("/user/new", content=b"", headers={"Authorization": f"Bearer {MASTER_KEY}"})
    assert response.status_code == 200
    assert litellm.management == [("/user/new", MASTER_KEY, None)]


@pytest.mark.parametrize(
    ("make", "message", "reason"),
    [
        (lambda: token(kid="unknown"), "The token is signed with an unknown key", "unknown_key"),
        (
            lambda: jwt.encode({"sub": "x"}, SIGNING_KEY, algorithm="RS256"),  # no kid in its header
            "The token names no signing key (kid)",
            "unknown_key",
        ),
        (lambda: token(sub=" "), "The token has no subject (sub)", "missing_claim"),
        (lambda: token(exp=int(time.time()) - 3600), "Invalid token: Signature has expired", "expired"),
        (  # a verdict of PyJWT's without a reason of its own
            lambda: token(iat="yesterday"),
            "Invalid token: Issued At claim (iat) must be an integer.",
            "invalid",
        ),
    ],
)
def test_refusals_say_why_and_count_their_reason(
    issuer: Issuer,
    litellm: FakeLiteLLM,
    capsys: pytest.CaptureFixture[str],
    make: Callable[[], str],
    message: str,
    reason: str,
) -> None:
    response = new_user(litellm, make())
    assert (response.status_code, response.json()["error"]["message"]) == (401, message)
    assert _emf(capsys.readouterr().out, response.headers["x-gateway-request-id"])["reason"] == reason


def test_a_token_expired_within_the_leeway_is_accepted(issuer: Issuer, litellm: FakeLiteLLM) -> None:
    now = int(time.time())
    assert new_user(litellm, token(iat=now - 600, exp=now - 30)).status_code == 200  # OKTA_LEEWAY_S: 60


def test_the_email_claim_is_the_users_email_and_a_blank_body_is_no_fields(issuer: Issuer, litellm: FakeLiteLLM) -> None:
    client = TestClient(create_app(litellm=litellm.client()))
    bearer = token(sub="00u1", email="ann@example.com")
    response = client.post("/user/new", content=b"", headers={"Authorization": f"Bearer {bearer}"})
    assert response.status_code == 200, response.text
    assert litellm.management == [
        ("/user/new", MASTER_KEY, {**EXPECTED_USER, "user_id": "00u1", "user_email": "ann@example.com"})
    ]


@pytest.mark.parametrize(
    ("body", "message", "param"),
    [
        (
            {"zz": 1, "aa": 2},
            "Unsupported fields: aa, zz (allowed: user_alias, key_alias, metadata, duration)",
            "aa",
        ),
        ({"metadata": "team a"}, "metadata must be an object", "metadata"),
    ],
)
def test_malformed_fields_are_a_400_saying_what_is_allowed(
    issuer: Issuer, litellm: FakeLiteLLM, body: dict[str, Any], message: str, param: str
) -> None:
    response = new_user(litellm, token(), body)
    assert response.status_code == 400
    assert (response.json()["error"]["message"], response.json()["error"]["param"]) == (message, param)
    assert litellm.management == []
