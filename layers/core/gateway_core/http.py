"""The one pooled HTTP client each process uses to reach LiteLLM.

aiohttp, because a gateway's CPU per request is its overhead: relaying a chat completion costs
~0.1-0.2 ms of client CPU with aiohttp against 0.7-1.1 ms with httpx (bench/, same machine),
whose connection pool checks every idle connection on every request. The session is created
lazily on first use, not per request, and bound to the running event loop (sessions cannot
cross loops): one under uvicorn or the Lambda Web Adapter; mangum reuses one loop too.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from gateway_core.errors import map_upstream_errors
from gateway_core.settings import Settings, get_settings
from gateway_core.timing import waiting_on_litellm

__all__ = ["Upstream", "UpstreamRequest", "call_litellm", "close_clients", "send"]

_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession] = weakref.WeakKeyDictionary()


def _build_session(settings: Settings) -> aiohttp.ClientSession:
    timeout = aiohttp.ClientTimeout(
        total=None,
        connect=settings.litellm_connect_timeout_s,  # includes waiting for a pooled connection
        sock_connect=settings.litellm_connect_timeout_s,
        sock_read=settings.litellm_read_timeout_s,  # silence allowed between two reads
    )
    connector = aiohttp.TCPConnector(limit=settings.litellm_max_connections, keepalive_timeout=30, ttl_dns_cache=60)
    # trust_env=False: no proxy variables or netrc between us and the private ALB. Bodies are
    # relayed as they come, so nothing is decompressed on the way.
    return aiohttp.ClientSession(
        connector=connector, timeout=timeout, trust_env=False, auto_decompress=False, skip_auto_headers=("User-Agent",)
    )


def litellm_session() -> aiohttp.ClientSession:
    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None or session.closed:
        session = _sessions[loop] = _build_session(get_settings())
    return session


async def close_clients() -> None:
    """Close the current loop's session (app shutdown)."""
    session = _sessions.pop(asyncio.get_running_loop(), None)
    if session is not None:
        await session.close()


@dataclass(frozen=True)
class UpstreamRequest:
    method: str
    path: str  # with its query string
    headers: list[tuple[str, str]]
    content: bytes


class Upstream:
    """LiteLLM's answer once its status and headers arrived; the body is read on demand."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status_code = response.status
        self.headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in response.raw_headers]

    async def aread(self) -> bytes:
        with map_upstream_errors(), waiting_on_litellm():
            return await self._response.read()

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        with map_upstream_errors():
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aiter_lines(self) -> AsyncIterator[str]:
        """Lines of any length (aiohttp's own line reader stops at 64 KiB; SSE chunks can be larger)."""
        pending = b""
        async for chunk in self.aiter_raw():
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.removesuffix(b"\r").decode()
        if pending:
            yield pending.decode()

    async def aclose(self) -> None:
        """Release the connection: back to the pool if the body was read, closed otherwise
        (which is how LiteLLM learns that a client went away mid-stream)."""
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


async def send(request: UpstreamRequest) -> Upstream:
    """Send ``request`` to LiteLLM; return once its status and headers arrived."""
    url = get_settings().litellm_base_url + request.path
    with map_upstream_errors(), waiting_on_litellm():
        response = await litellm_session().request(
            request.method, url, headers=request.headers, data=request.content, allow_redirects=False
        )
    return Upstream(response)


async def call_litellm(
    method: str, path: str, *, token: str, body: dict[str, Any] | None = None, params: dict[str, str] | None = None
) -> tuple[int, Any]:
    """A whole small LiteLLM call (management API) with ``token``: (status, JSON or error body)."""
    query = "?" + urlencode(params) if params else ""
    headers = [("authorization", f"Bearer {token}"), ("accept-encoding", "identity")]
    content = b""
    if body is not None:
        headers.append(("content-type", "application/json"))
        content = json.dumps(body).encode()
    upstream = await send(UpstreamRequest(method, path + query, headers, content))
    try:
        raw = await upstream.aread()
    finally:
        await upstream.aclose()
    try:
        return upstream.status_code, json.loads(raw)
    except ValueError:
        return upstream.status_code, {"error": {"message": raw.decode(errors="replace")}}
