"""Verify an Okta (OAuth 2.0 / OIDC) access token with PyJWT.

Signing keys come from the issuer's JWKS: ``jwks_uri`` from
``{issuer}/.well-known/openid-configuration`` when the issuer publishes it, else
``{issuer}/v1/keys`` (Okta's path). They are cached across warm invocations and refetched
once when a token names an unknown ``kid`` (key rotation), at most once per
``OKTA_JWKS_MIN_REFRESH_S``, so a flood of made-up kids cannot hammer the issuer. Only RS256 is
accepted (never ``none`` or a symmetric algorithm); ``iss``, ``aud``, ``exp``, ``iat`` and
``sub`` are required and ``nbf`` honoured, with ``OKTA_LEEWAY_S`` of clock skew. TLS to the
issuer uses the system trust store (``SSL_CERT_FILE`` honoured); ``http://`` only when allowed.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import jwt
from jwt import PyJWK

from user_keys.config import OnboardingConfig

__all__ = ["ALGORITHMS", "JwksCache", "TokenRejected", "verify_token"]

ALGORITHMS = ("RS256",)


class TokenRejected(Exception):
    """The token is not acceptable; the message says why (safe to show the caller), ``reason`` in
    a short fixed code (a metrics dimension: JwtRejections by reason)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


# PyJWT's verdicts as rejection reasons; the order matters (subclasses first).
_JWT_REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.ImmatureSignatureError, "not_yet_valid"),
    (jwt.InvalidAudienceError, "audience"),
    (jwt.InvalidIssuerError, "issuer"),
    (jwt.MissingRequiredClaimError, "missing_claim"),
    (jwt.InvalidSignatureError, "signature"),
    (jwt.DecodeError, "malformed"),
)


def _jwt_reason(error: jwt.PyJWTError) -> str:
    return next((reason for kind, reason in _JWT_REASONS if isinstance(error, kind)), "invalid")


class JwksCache:
    """The issuer's signing keys by ``kid``. ``clock`` is monotonic seconds (tests pass their own,
    so the refresh limits are proved without waiting)."""

    def __init__(self, config: OnboardingConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self.keys: dict[str, PyJWK] = {}
        self.fetched_at: float | None = None
        self.jwks_uri: str | None = None
        self._lock: asyncio.Lock | None = None
        self._tls = ssl.create_default_context()  # system store; OpenSSL honours SSL_CERT_FILE

    async def _get_json(self, url: str) -> tuple[int, Any]:
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as session:  # rare: once per refresh
            async with session.get(url, ssl=self._tls, allow_redirects=False) as response:
                return response.status, await response.json(content_type=None)

    def _check_scheme(self, url: str) -> None:
        if not url.startswith("https://") and not (self.config.allow_http_issuer and url.startswith("http://")):
            raise TokenRejected(
                "The configured issuer is not https (set OKTA_ALLOW_HTTP_ISSUER only for local development)",
                "issuer_config",
            )

    async def _discover(self) -> str:
        issuer = self.config.issuer
        self._check_scheme(issuer)
        try:
            status, document = await self._get_json(f"{issuer}/.well-known/openid-configuration")
            if status == 200 and isinstance(document, dict):
                if document.get("issuer", issuer).rstrip("/") == issuer and isinstance(document.get("jwks_uri"), str):
                    self._check_scheme(document["jwks_uri"])
                    return str(document["jwks_uri"])
        except (aiohttp.ClientError, TimeoutError, ValueError):
            pass  # no discovery document: Okta's conventional path
        return f"{issuer}/v1/keys"

    async def _refresh(self) -> None:
        self.fetched_at = self._clock()  # also on failure: the rate limit must hold
        try:
            self.jwks_uri = self.jwks_uri or await self._discover()
            status, document = await self._get_json(self.jwks_uri)
            if status != 200:
                raise ValueError(f"HTTP {status}")
            entries = document.get("keys", [])
        except (aiohttp.ClientError, TimeoutError, ValueError, AttributeError) as exc:
            raise TokenRejected(
                f"The issuer's signing keys could not be fetched ({type(exc).__name__})", "jwks_unavailable"
            ) from exc
        keys = {}
        for entry in entries:
            if (
                isinstance(entry, dict)
                and entry.get("kid")
                and entry.get("kty") == "RSA"
                and entry.get("use", "sig") == "sig"
            ):
                try:
                    keys[str(entry["kid"])] = PyJWK(entry, algorithm="RS256")
                except jwt.PyJWTError:
                    continue
        self.keys = keys

    async def key(self, kid: str) -> PyJWK:
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:
            now = self._clock()
            stale = self.fetched_at is None or now - self.fetched_at > self.config.jwks_max_age_s
            unknown_may_refresh = kid not in self.keys and (
                self.fetched_at is None or now - self.fetched_at >= self.config.jwks_min_refresh_s
            )
            if stale or unknown_may_refresh:
                try:
                    await self._refresh()
                except TokenRejected:
                    if kid not in self.keys:
                        raise
            if kid not in self.keys:
                raise TokenRejected("The token is signed with an unknown key", "unknown_key")
            return self.keys[kid]


async def verify_token(token: str, cache: JwksCache) -> dict[str, Any]:
    """The token's claims, or TokenRejected."""
    config = cache.config
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenRejected("The token is not a well-formed JWT", "malformed") from exc
    if header.get("alg") not in ALGORITHMS:
        raise TokenRejected(f"Token algorithm {header.get('alg')!r} is not allowed", "algorithm")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise TokenRejected("The token names no signing key (kid)", "unknown_key")
    key = await cache.key(kid)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=list(ALGORITHMS),
            audience=config.audience,
            issuer=config.issuer,
            leeway=config.leeway_s,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.PyJWTError as exc:
        raise TokenRejected(f"Invalid token: {exc}", _jwt_reason(exc)) from exc
    if not isinstance(claims.get("sub"), str) or not claims["sub"].strip():
        raise TokenRejected("The token has no subject (sub)", "missing_claim")
    return claims
