"""POST /key/generate: a non-admin key mints keys only for its own user and its own teams.

LiteLLM enforces this too (for teams with a 400); the gateway answers the same rule with a
clear 403 naming the field, before LiteLLM is asked. A key minted without ``user_id`` belongs to
the caller's user. Budgets, limits and models are LiteLLM's to bound: a user's own budget,
limits and models apply to every key of that user. The master key passes unchanged.

A non-admin body holds only ``ALLOWED_FIELDS``, each of its type (400 naming the field
otherwise); ``PRIVILEGED_FIELDS`` (a chosen key value, its spend, its permissions ...) are a 403.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from gateway_core.bodies import json_object
from gateway_core.errors import InvalidRequestError, PermissionDeniedError
from gateway_core.forwarding import forward, upstream_request
from gateway_core.http import litellm_client
from gateway_core.identity import identify
from starlette.requests import Request
from starlette.responses import Response

from user_keys.admin import as_admin

__all__ = ["ALLOWED_FIELDS", "PRIVILEGED_FIELDS", "generate_key"]


def _text(value: Any) -> bool:
    return isinstance(value, str)


def _optional_text(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _count(value: Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)


def _amount(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0)


def _texts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _object(value: Any) -> bool:
    return isinstance(value, dict)


ALLOWED_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "user_id": (_text, "a string"),
    "team_id": (_text, "a string"),
    "key_alias": (_optional_text, "a string or null"),
    "duration": (_optional_text, "a string or null"),
    "models": (_texts, "a list of strings"),
    "tags": (_texts, "a list of strings"),
    "metadata": (_object, "an object"),
    "max_budget": (_amount, "a non-negative number or null"),
    "budget_duration": (_optional_text, "a string or null"),
    "tpm_limit": (_count, "a non-negative integer or null"),
    "rpm_limit": (_count, "a non-negative integer or null"),
    "max_parallel_requests": (_count, "a non-negative integer or null"),
}
PRIVILEGED_FIELDS = frozenset(
    {
        "key",
        "spend",
        "blocked",
        "user_role",
        "permissions",
        "allowed_routes",
        "allowed_cache_controls",
        "config",
        "aliases",
        "guardrails",
        "enforced_params",
        "organization_id",
        "soft_budget",
        "model_max_budget",
        "model_rpm_limit",
        "model_tpm_limit",
        "key_type",
    }
)


def _check_fields(body: dict[str, Any]) -> None:
    privileged = sorted(set(body) & PRIVILEGED_FIELDS)
    if privileged:
        raise PermissionDeniedError(f"Only an admin may set {', '.join(privileged)} on a key", param=privileged[0])
    unknown = sorted(set(body) - set(ALLOWED_FIELDS))
    if unknown:
        raise InvalidRequestError(
            f"Unsupported fields: {', '.join(unknown)} (allowed: {', '.join(ALLOWED_FIELDS)})", param=unknown[0]
        )
    for name, value in body.items():
        valid, expected = ALLOWED_FIELDS[name]
        if not valid(value):
            raise InvalidRequestError(f"{name} must be {expected}", param=name)


async def _user_teams(request: Request, user_id: str) -> set[str]:
    if not user_id:
        return set()
    status, info = await as_admin(request, "GET", "/user/info", params={"user_id": user_id})
    if status != 200 or not isinstance(info, dict):
        return set()
    teams = (info.get("user_info") or {}).get("teams") or []
    return {str(t) for t in teams}


async def generate_key(request: Request) -> Response:
    raw = await request.body()
    caller = await identify(request)
    if caller.is_admin:
        json_object(raw, empty={})  # LiteLLM gets the admin's bytes, but only sane JSON
        return await forward(litellm_client(request), upstream_request(request, raw), stream=False)
    body = json_object(raw, empty={})
    _check_fields(body)
    requested_user = body.get("user_id")
    if requested_user is not None and requested_user != caller.user_id:
        raise PermissionDeniedError("A key can only mint keys for its own user", param="user_id")
    if caller.user_id is not None and requested_user is None:
        body["user_id"] = caller.user_id
    team = body.get("team_id")
    if team is not None and team not in await _user_teams(request, caller.user_id or ""):
        raise PermissionDeniedError(f"The caller is not a member of team {team}", param="team_id")
    return await forward(litellm_client(request), upstream_request(request, json.dumps(body).encode()), stream=False)
