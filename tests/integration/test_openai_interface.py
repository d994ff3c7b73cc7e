"""The OpenAI interface through the gateway, with the OpenAI SDK, against LiteLLM and the fake provider."""

from __future__ import annotations

import json
import re
import time
import uuid

import httpx
import openai
import pytest

from tests.integration.conftest import LocalStack

pytestmark = pytest.mark.integration
HI = [{"role": "user", "content": "hi"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def new_key(stack: LocalStack, **fields: object) -> str:
    response = httpx.post(
        f"{stack.gateway_url}/key/generate",
        headers={"Authorization": f"Bearer {stack.master_key}"},
        json=fields,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["key"])


def test_chat_completion(stack: LocalStack) -> None:
    response = stack.openai().chat.completions.create(model="fake-gpt", messages=HI)
    assert response.choices[0].message.content == "The quick brown fox jumps over the lazy"
    assert response.choices[0].finish_reason == "stop"
    assert response.usage is not None and response.usage.completion_tokens == 8


def test_unversioned_route_answers_like_the_versioned_one(stack: LocalStack) -> None:
    unversioned = openai.OpenAI(base_url=stack.gateway_url, api_key=stack.master_key, max_retries=0)
    answer = unversioned.chat.completions.create(model="fake-gpt", messages=HI)
    versioned = stack.openai().chat.completions.create(model="fake-gpt", messages=HI)
    assert answer.choices[0].message.content == versioned.choices[0].message.content
    assert answer.choices[0].message.content == "The quick brown fox jumps over the lazy"
    assert (answer.model, answer.usage) == (versioned.model, versioned.usage)


def test_stream_arrives_incrementally_with_usage(stack: LocalStack) -> None:
    # LiteLLM's first streamed answer after it starts stalls its event loop for ~0.6 s (its own
    # first-use set-up), so that stream's chunks pile up and leave together: a cold start, not
    # buffering. One stream straight to LiteLLM first, so what is measured is the relay.
    warm = stack.openai().with_options(base_url=f"{stack.litellm_url}/v1")
    assert len(list(warm.chat.completions.create(model="fake-gpt", messages=HI, stream=True))) > 1
    started = time.monotonic()
    stream = stack.openai().chat.completions.create(
        model="fake-gpt",
        messages=HI,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"x-fake-chunks": "4", "x-fake-chunk-delay-ms": "150"},
    )
    arrivals, text, usage = [], "", None
    for chunk in stream:
        arrivals.append(time.monotonic() - started)
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage:
            usage = chunk.usage
    assert text == "The quick brown fox"
    assert usage is not None and usage.completion_tokens == 4
    # 4 chunks 150 ms apart: the first must arrive long before the last (no buffering anywhere).
    assert arrivals[-1] - arrivals[1] >= 0.35, arrivals


def _sse_events(base_url: str, key: str, body: dict[str, object]) -> list[str]:
    with httpx.stream(
        "POST", f"{base_url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return [line for line in response.iter_lines() if line.startswith("data: ")]


def test_stream_is_relayed_as_litellm_sends_it(stack: LocalStack) -> None:
    body = {"model": "fake-gpt", "messages": HI, "stream": True, "stream_options": {"include_usage": True}}
    through_gateway = _sse_events(stack.gateway_url, stack.master_key, body)
    direct = _sse_events(stack.litellm_url, stack.master_key, body)
    assert through_gateway[-1] == "data: [DONE]"
    usage = json.loads(through_gateway[-2][6:])["usage"]
    assert usage["total_tokens"] > 0
    assert len(through_gateway) == len(direct)


@pytest.mark.parametrize("stream", [False, True])
def test_tool_calls_pass_through(stack: LocalStack, stream: bool) -> None:
    client = stack.openai()
    if stream:
        calls: dict[int, dict[str, str]] = {}
        finish = None
        for chunk in client.chat.completions.create(model="fake-gpt", messages=HI, tools=[WEATHER_TOOL], stream=True):
            for delta in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
                call = calls.setdefault(delta.index, {"name": "", "arguments": ""})
                call["name"] += (delta.function.name or "") if delta.function else ""
                call["arguments"] += (delta.function.arguments or "") if delta.function else ""
            if chunk.choices and chunk.choices[0].finish_reason:
                finish = chunk.choices[0].finish_reason
        name, arguments = calls[0]["name"], calls[0]["arguments"]
    else:
        response = client.chat.completions.create(model="fake-gpt", messages=HI, tools=[WEATHER_TOOL])
        finish = response.choices[0].finish_reason
        [call] = response.choices[0].message.tool_calls or []
        name, arguments = call.function.name, call.function.arguments  # type: ignore[union-attr]
    assert finish == "tool_calls"
    assert name == "get_weather" and json.loads(arguments) == {"city": "fake"}


def test_models_and_embeddings_reach_litellm(stack: LocalStack) -> None:
    client = stack.openai()
    ids = {model.id for model in client.models.list()}
    assert {"fake-gpt", "fake-embedding"} <= ids
    vector = client.embeddings.create(model="fake-embedding", input="hello").data[0].embedding
    assert len(vector) == 16


def test_generated_key_works_and_rpm_limit_is_enforced(stack: LocalStack) -> None:
    key = new_key(stack, rpm_limit=1, models=["fake-gpt"])
    client = stack.openai(api_key=key)
    assert client.chat.completions.create(model="fake-gpt", messages=HI).choices[0].message.content
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="fake-gpt", messages=HI)
    assert caught.value.status_code == 429


def test_tpm_limit_is_enforced(stack: LocalStack) -> None:
    # Every answer costs at least 2 tokens (1 prompt + at least 1 completion: LiteLLM trims
    # max_tokens to what the key has left), so 5 tokens a minute last 3 requests at most; once
    # LiteLLM has counted them (after each answer), the key is refused until the minute ends.
    key = new_key(stack, tpm_limit=5, models=["fake-gpt"])
    client = stack.openai(api_key=key)
    answered = 0
    deadline = time.monotonic() + 20
    while True:  # tokens are counted asynchronously
        try:
            usage = client.chat.completions.create(model="fake-gpt", messages=HI).usage
        except openai.RateLimitError as exc:
            assert exc.status_code == 429
            assert answered >= 1, "refused before any token was spent"
            return
        assert usage is not None and usage.total_tokens >= 2
        answered += 1
        assert time.monotonic() < deadline, f"tpm limit never enforced ({answered} answers)"
        time.sleep(0.5)


def test_invalid_key_is_401_not_200(stack: LocalStack) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        stack.openai(api_key="sk-not-a-key").chat.completions.create(model="fake-gpt", messages=HI)
    assert caught.value.status_code == 401


def test_model_not_allowed_for_key_is_refused(stack: LocalStack) -> None:
    key = new_key(stack, models=["fake-embedding"])
    with pytest.raises(openai.APIStatusError) as caught:
        stack.openai(api_key=key).chat.completions.create(model="fake-gpt", messages=HI)
    assert caught.value.status_code in {401, 403}
    assert "fake-gpt" in str(caught.value.body)


def test_exhausted_budget_is_refused(stack: LocalStack) -> None:
    key = new_key(stack, max_budget=0.0000001, models=["fake-gpt"])
    client = stack.openai(api_key=key)
    client.chat.completions.create(model="fake-gpt", messages=HI)  # spends more than the budget
    deadline = time.monotonic() + 20
    while True:  # spend is counted asynchronously
        try:
            client.chat.completions.create(model="fake-gpt", messages=HI)
        except openai.APIStatusError as exc:
            assert exc.status_code in {400, 422}, exc
            assert "budget" in str(exc.body).lower()
            return
        assert time.monotonic() < deadline, "budget never enforced"
        time.sleep(0.5)


def test_provider_errors_keep_their_status(stack: LocalStack) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        stack.openai().chat.completions.create(
            model="fake-gpt", messages=HI, extra_headers={"x-fake-error-status": "503"}
        )
    assert caught.value.status_code == 503


def test_stream_failure_is_an_error_not_a_clean_end(stack: LocalStack) -> None:
    stream = stack.openai().chat.completions.create(
        model="fake-gpt", messages=HI, stream=True, extra_headers={"x-fake-fail-after-chunks": "2"}
    )
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"{not json", "not valid JSON"), (b"[]", "JSON object"), (b'{"model": "fake-gpt", "stream": "yes"}', "boolean")],
)
def test_malformed_bodies_get_openai_shaped_400(stack: LocalStack, body: bytes, message: str) -> None:
    response = httpx.post(
        f"{stack.gateway_url}/v1/chat/completions",
        content=body,
        headers={"Authorization": f"Bearer {stack.master_key}"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and message in error["message"]


def test_management_routes_reach_litellm(stack: LocalStack) -> None:
    headers = {"Authorization": f"Bearer {stack.master_key}"}
    with httpx.Client(base_url=stack.gateway_url, headers=headers, timeout=30) as client:
        user = client.post("/user/new", json={"user_email": f"someone-{uuid.uuid4().hex[:8]}@example.com"})
        assert user.status_code == 200, user.text
        team = client.post("/team/new", json={"team_alias": "integration"})
        assert team.status_code == 200, team.text
        key = user.json()["key"]
        info = client.get("/key/info", params={"key": key})
        assert info.status_code == 200 and info.json()["info"]["user_id"] == user.json()["user_id"]
        assert client.get("/health/liveliness").status_code == 200
        assert client.get("/health").json()["status"] == "ready"


def test_every_function_response_reports_its_overhead(stack: LocalStack) -> None:
    raw = stack.openai().chat.completions.with_raw_response.create(
        model="fake-gpt", messages=HI, extra_headers={"x-fake-latency-ms": "300"}
    )
    overhead = float(raw.headers["x-gateway-overhead-ms"])
    assert 0 <= overhead < 300  # the provider's 300 ms is LiteLLM's time, not ours
    history = httpx.post(
        f"{stack.gateway_url}/session-ids", headers={"Authorization": f"Bearer {stack.master_key}"}, json={}
    )
    assert re.fullmatch(
        r"\d+\.\d\d", history.headers["x-gateway-overhead-ms"]
    )  # exact values: tests/unit/test_overhead.py
    bad = httpx.post(
        f"{stack.gateway_url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {stack.master_key}"},
        content=b"{",
    )
    assert bad.status_code == 400 and "x-gateway-overhead-ms" in bad.headers
