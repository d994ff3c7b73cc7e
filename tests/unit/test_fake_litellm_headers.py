"""The fake provider's x-fake-litellm-headers knob: where it stands in for LiteLLM (bench section
1c), its chat answers carry LiteLLM's headers; otherwise none of them."""

from __future__ import annotations

from starlette.testclient import TestClient

from fake_provider.app import create_app

CHAT = {"model": "fake-gpt", "messages": [{"role": "user", "content": "Say hello"}]}


def test_chat_answers_carry_litellms_headers_only_when_asked() -> None:
    client = TestClient(create_app())
    for stream in (False, True):
        body = {**CHAT, "stream": stream}
        asked = client.post("/v1/chat/completions", json=body, headers={"x-fake-litellm-headers": "1"})
        plain = client.post("/v1/chat/completions", json=body)
        assert asked.status_code == plain.status_code == 200
        assert asked.headers["x-litellm-model-api-base"] == "http://127.0.0.1:8090/v1"
        assert asked.headers["llm_provider-server"] == "uvicorn"
        assert len([name for name in asked.headers if name.startswith(("x-litellm-", "llm_provider-"))]) == 23
        assert not [name for name in plain.headers if name.startswith(("x-litellm-", "llm_provider-"))]
    refused = client.post(
        "/v1/chat/completions", json=CHAT, headers={"x-fake-litellm-headers": "1", "x-fake-chunks": "0"}
    )
    assert refused.status_code == 400 and "x-litellm-call-id" not in refused.headers
