"""POST /user/new: a LiteLLM key behaves exactly as on LiteLLM; an Okta JWT onboards its person.

With a JWT the gateway acts for the deployment, with the master key, so it decides what the new
user gets: ``user_id`` = ``sub``, ``user_email`` = ``email`` (else ``sub``), role
``internal_user``, the deployment's default budget, limits and models, and the teams mapped
from the token's groups. A body asking for any of that is refused (403 naming the fields), never
silently capped. A person who already exists gets a new key for their user instead of an error.
"""

from __future__ import annotations

import hmac
import logging
from typing import TYPE_CHECKING, Any

from gateway_core.bodies import json_object
from gateway_core.errors import AuthenticationError, InvalidRequestError, PermissionDeniedError
from gateway_core.forwarding import forward, upstream_request
from gateway_core.http import litellm_client
from gateway_core.identity import bearer_token
from gateway_core.request_record import count, current_record
from gateway_core.secrets import get_master_key
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from user_keys.admin import as_admin
from user_keys.config import get_config

if TYPE_CHECKING:
    from user_keys.okta import JwksCache

__all__ = ["PRIVILEGED_FIELDS", "new_user"]

log = logging.getLogger("gateway")

PRIVILEGED_FIELDS = (
    "max_budget",
    "budget_duration",
    "soft_budget",
    "tpm_limit",
    "rpm_limit",
    "max_parallel_requests",
    "models",
    "teams",
    "team_id",
    "user_role",
    "model_rpm_limit",
    "model_tpm_limit",
    "model_max_budget",
    "permissions",
    "allowed_routes",
    "organization_id",
    "guardrails",
    "spend",
    "blocked",
)
ALLOWED_FIELDS = ("user_alias", "key_alias", "metadata", "duration")
_OBJECT_FIELDS = frozenset({"metadata"})  # the others are strings
_IDENTITY_FIELDS = ("user_id", "user_email")

_jwks: JwksCache | None = None


def _jwks_cache() -> JwksCache:
    from user_keys.okta import JwksCache  # PyJWT + cryptography: only JWT requests pay the import

    global _jwks
    if _jwks is None or _jwks.config is not get_config():
        _jwks = JwksCache(get_config())
    return _jwks


async def _body(request: Request) -> dict[str, Any]:
    return json_object(await request.body(), empty={})


def _user_fields(claims: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """What LiteLLM is asked to create, after refusing anything the caller may not choose."""
    config = get_config()
    identity = {"user_id": claims["sub"], "user_email": claims.get("email") or claims["sub"]}
    refused = [name for name in PRIVILEGED_FIELDS if name in body]
    refused += [name for name in _IDENTITY_FIELDS if name in body and body[name] != identity[name]]
    if refused:
        raise PermissionDeniedError(
            f"These fields are set by the deployment, not by the caller: {', '.join(refused)}", param=refused[0]
        )
    unknown = sorted(set(body) - set(ALLOWED_FIELDS) - set(_IDENTITY_FIELDS))
    if unknown:
        raise InvalidRequestError(
            f"Unsupported fields: {', '.join(unknown)} (allowed: {', '.join(ALLOWED_FIELDS)})", param=unknown[0]
        )
    for name in ALLOWED_FIELDS:
        if name in body and not isinstance(body[name], dict if name in _OBJECT_FIELDS else str):
            raise InvalidRequestError(
                f"{name} must be {'an object' if name in _OBJECT_FIELDS else 'a string'}", param=name
            )
    groups = claims.get(config.groups_claim) or []
    teams = sorted({config.group_teams[g] for g in groups if isinstance(g, str) and g in config.group_teams})
    fields = {
        **{k: body[k] for k in ALLOWED_FIELDS if k in body},
        **config.defaults,
        **identity,
        "user_role": "internal_user",
    }
    if teams:
        fields["teams"] = teams
    return fields


async def new_user(request: Request) -> Response:
    token = bearer_token(request)
    master = await get_master_key()
    if token.startswith("sk-") or (master and hmac.compare_digest(token.encode(), master.encode())):
        raw = await request.body()
        json_object(raw, empty={})  # LiteLLM (which admits admins only) gets the bytes, but only sane JSON
        return await forward(litellm_client(request), upstream_request(request, raw), stream=False)
    config = get_config()
    if not config.enabled:
        raise AuthenticationError("Okta onboarding is not configured on this gateway (OKTA_ISSUER); use a LiteLLM key")
    from user_keys.okta import TokenRejected, verify_token

    try:
        claims = await verify_token(token, _jwks_cache())
    except TokenRejected as exc:
        record = current_record.get()
        if record is not None:
            record.jwt_rejection = exc.reason
        raise AuthenticationError(str(exc)) from None
    fields = _user_fields(claims, await _body(request))
    status, created = await as_admin(request, "POST", "/user/new", json=fields)
    if status == 200:
        count("UsersCreated")
    elif status == 409:  # already onboarded: a fresh key for the existing user
        key_fields: dict[str, Any] = {
            "user_id": fields["user_id"],
            **{k: fields[k] for k in ("key_alias", "duration", "metadata") if k in fields},
        }
        status, created = await as_admin(request, "POST", "/key/generate", json=key_fields)
        if status == 200:
            created = {**created, "user_email": fields["user_email"], "existing_user": True}
    if status != 200:
        log.warning("onboarding failed in LiteLLM (HTTP %s)", status)
    else:
        log.info("onboarded user via Okta", extra={"user_id": fields["user_id"]})
    return JSONResponse(created, status_code=status)
