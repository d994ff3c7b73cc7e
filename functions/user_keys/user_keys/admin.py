"""LiteLLM management calls made with the master key, on the deployment's behalf."""

from __future__ import annotations

from typing import Any

from gateway_core.errors import ServiceUnavailableError
from gateway_core.http import litellm_client
from gateway_core.secrets import get_master_key
from starlette.requests import Request

__all__ = ["as_admin"]


async def as_admin(
    request: Request,
    method: str,
    path: str,
    *,
    json: dict[str, Any] | None = None,
    params: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """(status, JSON body) of a LiteLLM call made with the master key."""
    master = await get_master_key()
    if not master:
        raise ServiceUnavailableError("This deployment provides no LiteLLM master key to act with")
    return await litellm_client(request).call(method, path, token=master, body=json, params=params)
