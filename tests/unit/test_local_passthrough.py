"""The local API Gateway's HTTP-proxy integration when LiteLLM cannot be reached: a gateway
status in OpenAI's error shape (as the function routes answer), never a 500; and the one date
header the stand-in puts on every answer."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from gateway_core.h1_transport import Http1Transport
from gateway_core.http import LiteLLMClient
from gateway_core.settings import Settings

from local.gateway import LiteLLMPassthrough
from local.processes import free_port


def test_passthrough_answers_502_when_litellm_is_down() -> None:
    async def call() -> httpx.Response:
        passthrough = LiteLLMPassthrough()
        nobody = Settings(litellm_base_url=f"http://127.0.0.1:{free_port()}", litellm_connect_timeout_s=2.0)
        passthrough.client = LiteLLMClient(Http1Transport(nobody))
        try:
            transport = httpx.ASGITransport(app=passthrough)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
                return await client.get("/v1/models", headers={"Authorization": "Bearer sk-any"})
        finally:
            await passthrough.client.aclose()

    response = asyncio.run(call())
    assert response.status_code == 502
    assert response.json() == {
        "error": {
            "message": "LiteLLM is unreachable (ConnectionRefusedError)",
            "type": "api_error",
            "param": None,
            "code": "upstream_unavailable",
        }
    }


def test_the_date_header_is_the_current_second(monkeypatch: pytest.MonkeyPatch) -> None:
    from local import gateway

    monkeypatch.setattr(gateway.time, "time", lambda: 1_796_000_000.7)
    assert gateway._http_date() == b"Mon, 30 Nov 2026 00:53:20 GMT"
    monkeypatch.setattr(gateway.time, "time", lambda: 1_796_000_001.2)
    assert gateway._http_date() == b"Mon, 30 Nov 2026 00:53:21 GMT"
