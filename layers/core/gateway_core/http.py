"""The one pooled HTTP client each process uses to reach LiteLLM.

Created lazily on first use, not per request: connection reuse is most of the latency budget.
It is bound to the running event loop (httpx clients cannot cross loops), so under uvicorn or
the Lambda Web Adapter there is exactly one; mangum reuses one loop across invocations too.
"""

from __future__ import annotations

import asyncio
import weakref

import httpx

from gateway_core.settings import Settings, get_settings

__all__ = ["build_client", "close_clients", "litellm_client"]

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = weakref.WeakKeyDictionary()


def build_client(settings: Settings) -> httpx.AsyncClient:
    timeout = httpx.Timeout(
        connect=settings.litellm_connect_timeout_s,
        read=settings.litellm_read_timeout_s,
        write=settings.litellm_read_timeout_s,
        pool=settings.litellm_connect_timeout_s,
    )
    limits = httpx.Limits(
        max_connections=settings.litellm_max_connections,
        max_keepalive_connections=settings.litellm_max_connections,
        keepalive_expiry=30,
    )
    # trust_env=False: no proxy variables or netrc between us and the private ALB.
    return httpx.AsyncClient(base_url=settings.litellm_base_url, timeout=timeout, limits=limits, trust_env=False)


def litellm_client() -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = _clients[loop] = build_client(get_settings())
    return client


async def close_clients() -> None:
    """Close the current loop's client (app shutdown)."""
    client = _clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()
