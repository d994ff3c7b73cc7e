"""LiteLLM management calls made with the master key, on the deployment's behalf."""

from __future__ import annotations

from typing import Any

from gateway_core.errors import ServiceUnavailableError, map_upstream_errors
from gateway_core.http import litellm_client
from gateway_core.secrets import get_master_key

__all__ = ["as_admin"]


async def as_admin(method: str, path: str, *, json: dict[str, Any] | None = None, params: dict[str, str] | None = None) -> tuple[int, Any]:
    """(status, JSON body) of a LiteLLM call made with the master key."""
    master = await get_master_key()
    if not master:
        raise ServiceUnavailableError("This deployment provides no LiteLLM master key to act with")
    with map_upstream_errors():
        response = await litellm_client().request(method, path, json=json, params=params, headers={"authorization": f"Bearer {master}"})
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, {"error": {"message": response.text}}
