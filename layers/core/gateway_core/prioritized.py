"""What a chat route calls to serve a request at its priority (OpenAI, Converse, InvokeModel).

    return await prioritized(request, model, requested_priority(fields), lambda: relay(...))

On a model with an admission queue (``gateway_core.admission``) the caller is identified, its
priority worked out (``gateway_core.priority``: the key's, else its team's, else the default; a
request may only ask for less urgency), and ``respond`` runs once a slot is free; the slot is
held until the answer has been sent (the whole stream). Other models are relayed at once: their
priority is checked (400 if invalid) and has no effect.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway_core.admission import Slot, acquire_slot
from gateway_core.http import litellm_client
from gateway_core.identity import Caller, identify
from gateway_core.priority import PRIORITY_HEADER, effective_priority, metadata_priority
from gateway_core.secrets import get_master_key
from gateway_core.settings import get_settings

__all__ = ["caller_priority", "prioritized"]

_team_cache: dict[str, tuple[float, int | None]] = {}
_TEAM_CACHE_LIMIT = 10_000


async def _team_priority(request: Request, team_id: str) -> int | None:
    """The priority in a team's metadata, read with the master key (a key may not read its team),
    trusted as long as an identity (GATEWAY_IDENTITY_CACHE_TTL_S)."""
    cached = _team_cache.get(team_id)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    master = await get_master_key()
    if not master:
        return None
    status, info = await litellm_client(request).call("GET", "/team/info", token=master, params={"team_id": team_id})
    team = info.get("team_info") if status == 200 and isinstance(info, dict) else None
    priority = metadata_priority(team.get("metadata") if isinstance(team, dict) else None, f"team {team_id}")
    if len(_team_cache) >= _TEAM_CACHE_LIMIT:
        _team_cache.clear()
    _team_cache[team_id] = (time.monotonic() + get_settings().identity_cache_ttl_s, priority)
    return priority


async def caller_priority(request: Request, caller: Caller, requested: int | None) -> int:
    """The priority ``caller``'s request is served at, given the one it asked for."""
    granted = caller.priority
    if granted is None and caller.team_id and not caller.is_admin:
        granted = await _team_priority(request, caller.team_id)
    return effective_priority(granted=granted, requested=requested, is_admin=caller.is_admin)


class _HoldingSlot(Response):
    """``inner``, sent as is; the slot is released once it has been sent (or the client left)."""

    def __init__(self, inner: Response, slot: Slot) -> None:
        self.inner = inner
        self.slot = slot
        self.status_code = inner.status_code
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.inner(scope, receive, send)
        finally:
            await asyncio.shield(self.slot.release())


async def prioritized(
    request: Request, model: object, requested: int | None, respond: Callable[[], Awaitable[Response]]
) -> Response:
    """``respond()`` once ``model`` has room for this request at its priority (see the module)."""
    if not isinstance(model, str) or model not in get_settings().priority_limits:
        return await respond()
    priority = await caller_priority(request, await identify(request), requested)
    slot = await acquire_slot(model, priority)
    if slot is None:
        response = await respond()
        response.headers[PRIORITY_HEADER] = str(priority)
        return response
    try:
        response = await respond()
    except BaseException:
        await asyncio.shield(slot.release())
        raise
    response.headers[PRIORITY_HEADER] = str(priority)
    return _HoldingSlot(response, slot)
