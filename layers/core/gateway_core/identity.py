"""Who is calling: the LiteLLM identity behind the bearer key, validated by LiteLLM itself.

History is owned by that identity: the key's ``user_id`` when it has one (so all of a person's
keys share their sessions), else the key's token hash. LiteLLM's ``/key/info`` answers with the
caller's own key, so a deleted, blocked or expired key is refused there.

Revocation: a positive answer is trusted for ``GATEWAY_IDENTITY_CACHE_TTL_S`` (5 s) in the warm
function, and never past the key's own expiry, so a key deleted, blocked or expired in LiteLLM
is refused by every instance within that time. Refusals are never cached. Before a destructive
operation (``fresh=True``: deleting a session) the key is asked about again, whatever the cache.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from gateway_core.errors import AuthenticationError, InvalidKeyError, UpstreamUnavailableError
from gateway_core.http import litellm_client
from gateway_core.priority import metadata_priority
from gateway_core.request_record import note_team
from gateway_core.secrets import get_master_key
from gateway_core.settings import get_settings

__all__ = ["ADMIN_OWNER", "Caller", "bearer_token", "identify"]

ADMIN_OWNER = "admin"
_CACHE_LIMIT = 10_000
_cache: dict[str, tuple[float, Caller]] = {}
_clock = time.monotonic  # the cache's clock (tests move it)
_wall_clock = time.time


@dataclass(frozen=True)
class Caller:
    owner: str  # "user:<user_id>", "key:<token hash>" or ADMIN_OWNER
    is_admin: bool = False
    user_id: str | None = None
    team_id: str | None = None  # the key's team, a metrics dimension
    priority: int | None = None  # set by an admin in the key's metadata (gateway_core.priority)

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
    priority = metadata_priority(details.get("metadata"), "a key")
    return Caller(owner, user_id=user_id, team_id=details.get("team_id") or None, priority=priority)


def _seconds_to_expiry(info: dict[str, Any]) -> float | None:
    """Seconds until the key expires (LiteLLM's ``info.expires``, ISO 8601), None if it never does."""
    details = info.get("info")
    expires = details.get("expires") if isinstance(details, dict) else None
    if not isinstance(expires, str):
        return None
    try:
        moment = datetime.fromisoformat(expires)
    except ValueError:
        return 0.0  # unreadable: trust it for this request only
    if moment.tzinfo is None:  # LiteLLM writes UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp() - _wall_clock()


async def identify(request: Request, *, fresh: bool = False) -> Caller:
    """The caller behind the request's key; ``fresh`` asks LiteLLM even if the key was just seen."""
    token = bearer_token(request)
    master = await get_master_key()
    if master and hmac.compare_digest(token.encode(), master.encode()):
        return Caller(ADMIN_OWNER, is_admin=True)
    token_hash = hashlib.sha256(token.encode()).hexdigest()  # LiteLLM's own token hash
    cached = _cache.get(token_hash)
    if not fresh and cached is not None and cached[0] > _clock():
        note_team(cached[1].team_id)
        return cached[1]
    _cache.pop(token_hash, None)
    status, info = await litellm_client(request).call("GET", "/key/info", token=token)
    if status in {400, 401, 403, 404}:
        raise InvalidKeyError("Invalid, expired or blocked API key")
    if status != 200 or not isinstance(info, dict):
        raise UpstreamUnavailableError(f"LiteLLM could not validate the key (HTTP {status})")
    caller = _caller_from(info, token_hash)
    trusted_for = get_settings().identity_cache_ttl_s
    expiry = _seconds_to_expiry(info)
    if expiry is not None:
        trusted_for = min(trusted_for, expiry)
    if trusted_for > 0:
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()
        _cache[token_hash] = (_clock() + trusted_for, caller)
    note_team(caller.team_id)
    return caller
