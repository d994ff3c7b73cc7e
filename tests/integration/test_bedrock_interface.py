"""The Bedrock Runtime interface with real boto3 clients, through LiteLLM to the fake provider.

Two client styles, configuration only: (1) UNSIGNED + a request-created hook adding the bearer
key, over HTTP (the documented way); (2) boto3's native AWS_BEARER_TOKEN_BEDROCK over HTTPS.
"""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

import boto3
import httpx
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError

from tests.integration.conftest import LocalStack
from tests.integration.test_openai_interface import new_key

pytestmark = pytest.mark.integration
HELLO = [{"role": "user", "content": [{"text": "hi"}]}]
NO_RETRIES = Config(signature_version=UNSIGNED, retries={"max_attempts": 1, "mode": "standard"}, read_timeout=30)
WEATHER = {
    "toolSpec": {
        "name": "get_weather",
        "description": "Weather for a city",
        "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
    }
}
PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


def hook_client(stack: LocalStack, key: str | None = None, headers: dict[str, str] | None = None) -> Any:
    client = boto3.client(
        "bedrock-runtime", region_name="us-east-1", endpoint_url=f"{stack.gateway_url}/bedrock", config=NO_RETRIES
    )

    def add_headers(request: Any, **_: Any) -> None:
        request.headers["Authorization"] = f"Bearer {key or stack.master_key}"
        for name, value in (headers or {}).items():
            request.headers[name] = value

    client.meta.events.register("request-created.*", add_headers)
    return client


@pytest.fixture
def brt(stack: LocalStack) -> Any:
    return hook_client(stack)


@pytest.fixture
def echo(stack: LocalStack) -> Any:
    """A client whose answers are the JSON request the fake provider received from LiteLLM."""
    return hook_client(stack, headers={"x-fake-echo": "1", "x-fake-chunks": "1"})


def received(response: dict[str, Any]) -> dict[str, Any]:
    return json.loads(response["output"]["message"]["content"][0]["text"])  # type: ignore[no-any-return]


def test_plain_text(stack: LocalStack) -> None:
    slow = hook_client(stack, headers={"x-fake-latency-ms": "300"})  # so latencyMs has something to measure
    response = slow.converse(modelId="fake-gpt", messages=HELLO)
    assert response["output"]["message"] == {
        "role": "assistant",
        "content": [{"text": "The quick brown fox jumps over the lazy"}],
    }
    assert response["stopReason"] == "end_turn"
    usage = response["usage"]
    assert usage["outputTokens"] == 8 and usage["totalTokens"] == usage["inputTokens"] + 8
    assert 300 <= response["metrics"]["latencyMs"] < 30_000


def test_bearer_token_env_over_https(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", stack.master_key)
    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=f"{stack.tls_url}/bedrock",
        verify=str(stack.tls_cafile),
        config=Config(retries={"max_attempts": 1}),
    )
    assert client.converse(modelId="fake-gpt", messages=HELLO)["stopReason"] == "end_turn"
    events = list(client.converse_stream(modelId="fake-gpt", messages=HELLO)["stream"])
    assert "metadata" in events[-1]


def test_system_blocks_and_multiple_user_blocks_reach_the_model_in_order(echo: Any) -> None:
    response = echo.converse(
        modelId="fake-gpt",
        system=[{"text": "first rule"}, {"text": "second rule"}],
        messages=[{"role": "user", "content": [{"text": "Hello"}, {"text": "World"}]}],
    )
    messages = received(response)["messages"]
    assert messages[0]["role"] == "system"
    # LiteLLM may join a system prompt's parts into one string: both rules, in order, whatever the shape
    content = messages[0]["content"]
    system_text = " ".join(p["text"] for p in content) if isinstance(content, list) else content
    assert re.fullmatch(r"first rule\s*second rule", system_text), system_text
    assert [p["text"] for p in messages[1]["content"]] == ["Hello", "World"]


def test_image_becomes_a_data_url(echo: Any) -> None:
    response = echo.converse(
        modelId="fake-gpt",
        messages=[
            {
                "role": "user",
                "content": [{"text": "what is this"}, {"image": {"format": "png", "source": {"bytes": PNG_1PX}}}],
            }
        ],
    )
    [_, image] = received(response)["messages"][0]["content"]
    assert image["type"] == "image_url"
    assert image["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(PNG_1PX).decode()


def test_inference_config_and_additional_fields_reach_the_model(echo: Any) -> None:
    response = echo.converse(
        modelId="fake-gpt",
        messages=HELLO,
        inferenceConfig={"maxTokens": 500, "temperature": 0.25, "topP": 0.5},
        additionalModelRequestFields={"top_k": 7},
    )
    sent = received(response)
    assert (sent["max_tokens"], sent["temperature"], sent["top_p"], sent["top_k"]) == (500, 0.25, 0.5, 7)


def test_additional_fields_on_the_stream_path(brt: Any) -> None:
    events = list(
        brt.converse_stream(modelId="fake-gpt", messages=HELLO, additionalModelRequestFields={"top_k": 7})["stream"]
    )
    assert "messageStop" in events[-2]


def test_tool_use_round_trip(brt: Any) -> None:
    first = brt.converse(
        modelId="fake-gpt", messages=HELLO, toolConfig={"tools": [WEATHER], "toolChoice": {"auto": {}}}
    )
    assert first["stopReason"] == "tool_use"
    [block] = first["output"]["message"]["content"]
    use = block["toolUse"]
    assert use["name"] == "get_weather" and use["input"] == {"city": "fake"} and use["toolUseId"]
    conversation = [
        *HELLO,
        first["output"]["message"],
        {
            "role": "user",
            "content": [{"toolResult": {"toolUseId": use["toolUseId"], "content": [{"json": {"temp_c": 21}}]}}],
        },
    ]
    second = brt.converse(modelId="fake-gpt", messages=conversation, toolConfig={"tools": [WEATHER]})
    assert second["stopReason"] == "end_turn"
    assert second["output"]["message"]["content"][0]["text"] == 'Tool result received: {"temp_c": 21}'


def test_tool_use_ids_are_kept_in_translation(echo: Any) -> None:
    conversation = [
        *HELLO,
        {
            "role": "assistant",
            "content": [{"toolUse": {"toolUseId": "tooluse_abc", "name": "get_weather", "input": {"city": "Paris"}}}],
        },
        {"role": "user", "content": [{"toolResult": {"toolUseId": "tooluse_abc", "content": [{"text": "sunny"}]}}]},
    ]
    response = echo.converse(modelId="fake-gpt", messages=conversation, toolConfig={"tools": [WEATHER]})
    messages = received(response)["messages"]
    assert messages[1]["tool_calls"][0]["id"] == "tooluse_abc"
    assert json.loads(messages[1]["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}
    assert messages[2] == {"role": "tool", "tool_call_id": "tooluse_abc", "content": "sunny"}


def test_forced_tool_choice(echo: Any) -> None:
    other = {"toolSpec": {"name": "other", "inputSchema": {"json": {"type": "object"}}}}
    response = echo.converse(
        modelId="fake-gpt",
        messages=HELLO,
        toolConfig={"tools": [other, WEATHER], "toolChoice": {"tool": {"name": "get_weather"}}},
    )
    assert response["output"]["message"]["content"][0]["toolUse"]["name"] == "get_weather"


def test_max_tokens_stops_with_max_tokens(brt: Any) -> None:
    response = brt.converse(modelId="fake-gpt", messages=HELLO, inferenceConfig={"maxTokens": 3})
    assert response["stopReason"] == "max_tokens"
    assert response["output"]["message"]["content"][0]["text"] == "The quick brown"


def test_stop_sequences_cut_the_answer(brt: Any) -> None:
    response = brt.converse(modelId="fake-gpt", messages=HELLO, inferenceConfig={"stopSequences": [" fox"]})
    assert response["output"]["message"]["content"][0]["text"] == "The quick brown"
    assert response["stopReason"] in {"end_turn", "stop_sequence"}  # OpenAI-style upstreams report "stop" for both


def test_stream_arrives_incrementally_with_final_metadata(stack: LocalStack) -> None:
    client = hook_client(stack, headers={"x-fake-chunks": "4", "x-fake-chunk-delay-ms": "150"})
    started = time.monotonic()
    events, arrivals = [], []
    for event in client.converse_stream(modelId="fake-gpt", messages=HELLO)["stream"]:
        events.append(event)
        arrivals.append(time.monotonic() - started)
    kinds = [next(iter(e)) for e in events]
    assert kinds == ["messageStart", *["contentBlockDelta"] * 4, "contentBlockStop", "messageStop", "metadata"]
    assert "".join(e["contentBlockDelta"]["delta"]["text"] for e in events[1:5]) == "The quick brown fox"
    assert events[-2]["messageStop"]["stopReason"] == "end_turn"
    metadata = events[-1]["metadata"]
    assert metadata["usage"]["outputTokens"] == 4 and metadata["metrics"]["latencyMs"] >= 300
    assert arrivals[4] - arrivals[1] >= 0.35, arrivals  # deltas arrive 150 ms apart, not at the end


def test_stream_tool_use_has_block_start_and_stop(brt: Any) -> None:
    events = list(brt.converse_stream(modelId="fake-gpt", messages=HELLO, toolConfig={"tools": [WEATHER]})["stream"])
    start = next(e["contentBlockStart"] for e in events if "contentBlockStart" in e)
    assert start["start"]["toolUse"]["name"] == "get_weather"
    text = "".join(e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events if "contentBlockDelta" in e)
    assert json.loads(text) == {"city": "fake"}
    assert any("contentBlockStop" in e for e in events)
    assert events[-2]["messageStop"]["stopReason"] == "tool_use"


@pytest.mark.parametrize(("max_tokens", "reason"), [(2, "max_tokens"), (None, "end_turn")])
def test_stream_sends_message_stop_for_every_finish_reason(brt: Any, max_tokens: int | None, reason: str) -> None:
    config = {"maxTokens": max_tokens} if max_tokens else {}
    events = list(brt.converse_stream(modelId="fake-gpt", messages=HELLO, inferenceConfig=config)["stream"])
    assert events[-2]["messageStop"]["stopReason"] == reason


def test_mid_stream_failure_raises_event_stream_error(stack: LocalStack) -> None:
    client = hook_client(stack, headers={"x-fake-fail-after-chunks": "2"})
    stream = client.converse_stream(modelId="fake-gpt", messages=HELLO)["stream"]
    seen = []
    with pytest.raises(EventStreamError):
        for event in stream:
            seen.append(event)
    assert seen and "messageStart" in seen[0]


def _error(call: Any) -> ClientError:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value


def test_invalid_body_is_validation_exception(brt: Any) -> None:
    error = _error(lambda: brt.converse(modelId="fake-gpt", messages=[{"role": "system", "content": [{"text": "x"}]}]))
    assert error.response["Error"]["Code"] == "ValidationException"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_malformed_json_is_validation_exception(stack: LocalStack) -> None:
    response = httpx.post(
        f"{stack.gateway_url}/bedrock/model/fake-gpt/converse",
        content=b"{oops",
        headers={"Authorization": f"Bearer {stack.master_key}"},
    )
    assert response.status_code == 400 and response.headers["x-amzn-ErrorType"] == "ValidationException"
    assert isinstance(response.json()["message"], str)


def test_guardrail_config_is_refused_not_dropped(brt: Any) -> None:
    error = _error(
        lambda: brt.converse(
            modelId="fake-gpt", messages=HELLO, guardrailConfig={"guardrailIdentifier": "g1", "guardrailVersion": "1"}
        )
    )
    assert error.response["Error"]["Code"] == "ValidationException"
    assert "guardrail" in error.response["Error"]["Message"]


def test_bad_key_is_access_denied_in_the_same_words_whoever_checks_it(stack: LocalStack) -> None:
    """LiteLLM refuses the key on a plain call; the gateway checks it first on a history turn."""
    client = hook_client(stack, key="sk-wrong")
    refused = [
        _error(lambda: client.converse(modelId="fake-gpt", messages=HELLO)),
        _error(
            lambda: client.converse(
                modelId="fake-gpt", messages=HELLO, additionalModelRequestFields={"enable_history": True}
            )
        ),
    ]
    assert [(e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]) for e in refused] == [
        (403, {"Code": "AccessDeniedException", "Message": "The security token included in the request is invalid."})
    ] * 2


def test_unknown_model_is_resource_not_found(brt: Any) -> None:
    error = _error(lambda: brt.converse(modelId="no-such-model", messages=HELLO))
    assert error.response["Error"]["Code"] == "ResourceNotFoundException"


def test_model_id_arn_arrives_intact(stack: LocalStack) -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.no-such-profile-v1:0"
    error = _error(lambda: hook_client(stack).converse(modelId=arn, messages=HELLO))
    assert error.response["Error"]["Code"] == "ResourceNotFoundException"
    assert arn in error.response["Error"]["Message"]


def test_rate_limit_is_throttling(stack: LocalStack) -> None:
    client = hook_client(stack, key=new_key(stack, rpm_limit=1, models=["fake-gpt"]))
    client.converse(modelId="fake-gpt", messages=HELLO)
    error = _error(lambda: client.converse(modelId="fake-gpt", messages=HELLO))
    assert error.response["Error"]["Code"] == "ThrottlingException"


def test_exhausted_budget_says_so(stack: LocalStack) -> None:
    client = hook_client(stack, key=new_key(stack, max_budget=0.0000001, models=["fake-gpt"]))
    client.converse(modelId="fake-gpt", messages=HELLO)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.converse(modelId="fake-gpt", messages=HELLO)
        except ClientError as error:
            assert 400 <= error.response["ResponseMetadata"]["HTTPStatusCode"] < 500
            assert "budget" in error.response["Error"]["Message"].lower()
            return
        assert time.monotonic() < deadline, "budget never enforced"
        time.sleep(0.5)


def test_provider_failure_before_stream_is_modeled(stack: LocalStack) -> None:
    client = hook_client(stack, headers={"x-fake-error-status": "503"})
    error = _error(lambda: client.converse_stream(modelId="fake-gpt", messages=HELLO))
    assert error.response["Error"]["Code"] == "ServiceUnavailableException"
