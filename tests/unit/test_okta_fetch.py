"""The onboarding function's own HTTP fetch of the issuer's documents (the other onboarding tests
replace it): against a real aiohttp server on 127.0.0.1, a redirect is answered, not followed,
and each fetch is bounded in time and ignores proxy variables."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from user_keys.config import OnboardingConfig
from user_keys.okta import JwksCache


async def serve() -> AsyncIterator[str]:
    async def keys(_: web.Request) -> web.Response:
        return web.json_response({"keys": []})

    async def moved(_: web.Request) -> web.Response:
        return web.json_response({"moved": True}, status=302, headers={"Location": "/keys"})

    app = web.Application()
    app.router.add_get("/keys", keys)
    app.router.add_get("/moved", moved)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def fetch(paths: list[str]) -> list[tuple[int, Any]]:
    async def run() -> list[tuple[int, Any]]:
        cache = JwksCache(OnboardingConfig(issuer="http://127.0.0.1", allow_http_issuer=True))
        results = []
        async for base in serve():
            results = [await cache._get_json(base + path) for path in paths]
        return results

    return asyncio.run(run())


def test_a_document_is_fetched_and_a_redirect_is_not_followed() -> None:
    # an issuer's documents never move: a redirect is answered as it is, not chased
    assert fetch(["/keys", "/moved"]) == [(200, {"keys": []}), (302, {"moved": True})]


def test_each_fetch_is_bounded_and_ignores_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    sessions: list[dict[str, Any]] = []

    session_class = aiohttp.ClientSession

    def recorded(**kwargs: Any) -> aiohttp.ClientSession:
        sessions.append(kwargs)
        return session_class(**kwargs)

    monkeypatch.setattr(aiohttp, "ClientSession", recorded)
    assert fetch(["/keys"]) == [(200, {"keys": []})]
    assert [(s["timeout"], s["trust_env"]) for s in sessions] == [(aiohttp.ClientTimeout(total=5), False)]
