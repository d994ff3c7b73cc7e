"""POST /key/generate: a non-admin key mints keys only for its own user and its own teams.

LiteLLM enforces this too (for teams with a 400); the gateway answers the same rule with a
clear 403 naming the field, before LiteLLM is asked. A key minted without ``user_id`` belongs to
the caller's user. Everything else (budgets, limits, models) is LiteLLM's to bound: a user's own
budget, limits and models apply to every key of that user. The master key passes unchanged.
"""

from __future__ import annotations

import json

from gateway_core.bodies import json_object
from gateway_core.errors import PermissionDeniedError
from gateway_core.forwarding import forward, upstream_request
from gateway_core.http import litellm_client
from gateway_core.identity import identify
from starlette.requests import Request
from starlette.responses import Response

from user_keys.admin import as_admin

__all__ = ["generate_key"]


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
        return await forward(litellm_client(request), upstream_request(request, raw), stream=False)
    body = json_object(raw, empty={})
    requested_user = body.get("user_id")
    if requested_user is not None and requested_user != caller.user_id:
        raise PermissionDeniedError("A key can only mint keys for its own user", param="user_id")
    if caller.user_id is not None and requested_user is None:
        body["user_id"] = caller.user_id
    team = body.get("team_id")
    if team is not None and team not in await _user_teams(request, caller.user_id or ""):
        raise PermissionDeniedError(f"The caller is not a member of team {team}", param="team_id")
    return await forward(litellm_client(request), upstream_request(request, json.dumps(body).encode()), stream=False)
