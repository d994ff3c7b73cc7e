"""Who is calling: the LiteLLM identity behind the bearer key, validated by LiteLLM itself.

History is owned by that identity: the key's ``user_id`` when it has one (so all of a person's
keys share their sessions), else the key's token hash. LiteLLM's ``/key/info`` answers with the
caller's own key, so a deleted, blocked or expired key is refused there. Positive answers are
cached for ``GATEWAY_IDENTITY_CACHE_TTL_S`` in the warm function; refusals are never cached.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from gateway_core.errors import AuthenticationError, UpstreamUnavailableError
from gateway_core.http import litellm_client
from gateway_core.request_record import note_team
from gateway_core.secrets import get_master_key
from gateway_core.settings import get_settings

__all__ = ["ADMIN_OWNER", "Caller", "bearer_token", "identify"]

ADMIN_OWNER = "admin"
_CACHE_LIMIT = 10_000
_cache: dict[str, tuple[float, Caller]] = {}


@dataclass(frozen=True)
class Caller:
    owner: str  # "user:<user_id>", "key:<token hash>" or ADMIN_OWNER
    is_admin: bool = False
    user_id: str | None = None
    team_id: str | None = None  # the key's team, a metrics dimension

    def may_access(self, owner: str) -> bool:
        return self.is_admin or hmac.compare_digest(self.owner, owner)


def bearer_token(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationError("Missing API key: send 'Authorization: Bearer <key>'")
    return token


def _caller_from(info: dict[str, Any], token_hash: str) -> Caller:
    details = info.get("info")
    if not isinstance(details, dict):
        details = {}
    user_id = details.get("user_id") or None
    owner = f"user:{user_id}" if user_id else f"key:{info.get('key') or token_hash}"
    return Caller(owner, user_id=user_id, team_id=details.get("team_id") or None)


async def identify(request: Request) -> Caller:
    token = bearer_token(request)
    master = await get_master_key()
    if master and hmac.compare_digest(token.encode(), master.encode()):
        return Caller(ADMIN_OWNER, is_admin=True)
    token_hash = hashlib.sha256(token.encode()).hexdigest()  # LiteLLM's own token hash
    now = time.monotonic()
    cached = _cache.get(token_hash)
    if cached is not None and cached[0] > now:
        note_team(cached[1].team_id)
        return cached[1]
    status, info = await litellm_client(request).call("GET", "/key/info", token=token)
    if status in {400, 401, 403, 404}:
        raise AuthenticationError("Invalid, expired or blocked API key")
    if status != 200 or not isinstance(info, dict):
        raise UpstreamUnavailableError(f"LiteLLM could not validate the key (HTTP {status})")
    caller = _caller_from(info, token_hash)
    if len(_cache) >= _CACHE_LIMIT:
        _cache.clear()
    _cache[token_hash] = (now + get_settings().identity_cache_ttl_s, caller)
    note_team(caller.team_id)
    return caller
