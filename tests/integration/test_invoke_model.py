"""InvokeModel and InvokeModelWithResponseStream with real clients (boto3, the Anthropic SDK's
AnthropicBedrock), through the gateway and LiteLLM to the fake provider."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from anthropic import AnthropicBedrock
from botocore.exceptions import ClientError

from local.litellm_config import BLOCKED_WORD, LOCAL_GUARDRAIL
from tests.integration.conftest import LocalStack
from tests.integration.test_bedrock_interface import hook_client
from tests.integration.test_openai_interface import new_key

pytestmark = pytest.mark.integration
CLAUDE_BODY = {
    "anthropic_version": "bedrock-2023-05-31",
    "max_tokens": 64,
    "system": "Be brief.",
    "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
}
HELLO = [{"role": "user", "content": [{"text": "hi"}]}]
SHORT_TOKENS, LONG_TOKENS, CLAUDE_TOKENS = 8, 58, 15  # LiteLLM's local estimate for these inputs
WORDS = "The quick brown fox jumps over the lazy"
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture
def brt(stack: LocalStack) -> Any:
    return hook_client(stack)


@pytest.fixture
def claude(stack: LocalStack) -> AnthropicBedrock:
    return AnthropicBedrock(
        api_key=stack.master_key, base_url=f"{stack.gateway_url}/bedrock", aws_region="us-east-1", max_retries=0
    )


def _invoke(brt: Any, model: str, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    response = brt.invoke_model(modelId=model, body=json.dumps(body))
    return json.loads(response["body"].read()), response["ResponseMetadata"]["HTTPHeaders"]


def _stream(brt: Any, model: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = brt.invoke_model_with_response_stream(modelId=model, body=json.dumps(body))
    return [json.loads(event["chunk"]["bytes"]) for event in response["body"]]


def test_boto3_invoke_model_with_an_anthropic_body(brt: Any) -> None:
    answer, headers = _invoke(brt, "fake-gpt", CLAUDE_BODY)
    assert answer["type"] == "message" and answer["role"] == "assistant"
    assert answer["content"] == [{"type": "text", "text": WORDS}]
    assert answer["stop_reason"] == "end_turn"
    assert answer["usage"]["output_tokens"] == 8
    assert headers["x-amzn-bedrock-output-token-count"] == "8"
    assert headers["x-amzn-bedrock-input-token-count"] == str(answer["usage"]["input_tokens"])


def test_boto3_stream_with_an_anthropic_body(brt: Any) -> None:
    events = _stream(brt, "fake-gpt", CLAUDE_BODY)
    kinds = [event["type"] for event in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    text = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    assert text == WORDS
    metrics = events[-1]["amazon-bedrock-invocationMetrics"]
    assert metrics["outputTokenCount"] == 8 and metrics["inputTokenCount"] > 0


def test_anthropic_bedrock_client_create_with_tools(claude: AnthropicBedrock) -> None:
    message = claude.messages.create(
        model="fake-gpt",
        max_tokens=64,
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "Weather in Paris?"}],
    )
    assert message.stop_reason == "tool_use"
    (block,) = message.content
    assert block.type == "tool_use" and block.name == "get_weather" and block.input == {"city": "fake"}
    answered = claude.messages.create(
        model="fake-gpt",
        max_tokens=64,
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [block.model_dump()]},  # type: ignore[list-item]
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "sunny"}]},
        ],
    )
    assert answered.content[0].type == "text" and answered.content[0].text == "Tool result received: sunny"


def test_anthropic_bedrock_client_streams_with_tools(claude: AnthropicBedrock) -> None:
    with claude.messages.stream(
        model="fake-gpt",
        max_tokens=64,
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "Weather in Paris?"}],
    ) as stream:
        message = stream.get_final_message()
    assert message.stop_reason == "tool_use"
    assert [(b.type, getattr(b, "input", None)) for b in message.content] == [("tool_use", {"city": "fake"})]
    with claude.messages.stream(
        model="fake-gpt", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        assert "".join(stream.text_stream) == WORDS


def test_boto3_nova_body_invoke_and_stream(brt: Any) -> None:
    nova = {
        "schemaVersion": "messages-v1",
        "system": [{"text": "Be brief."}],
        "messages": [{"role": "user", "content": [{"text": "hi"}]}],
        "inferenceConfig": {"max_new_tokens": 3},
    }
    answer, _ = _invoke(brt, "fake-gpt", nova)
    assert answer["output"] == {"message": {"role": "assistant", "content": [{"text": "The quick brown"}]}}
    assert answer["stopReason"] == "max_tokens"
    assert answer["usage"]["outputTokens"] == 3
    events = _stream(brt, "fake-gpt", nova)
    assert events[0] == {"messageStart": {"role": "assistant"}}
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == "The quick brown"
    assert events[-2] == {"messageStop": {"stopReason": "max_tokens"}}
    assert events[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 3


def test_boto3_titan_and_cohere_embedding_bodies(brt: Any) -> None:
    titan, headers = _invoke(brt, "fake-embedding", {"inputText": "hello world", "embeddingTypes": ["float", "binary"]})
    vector = titan["embedding"]
    assert len(vector) == 16 and math.isclose(math.fsum(x * x for x in vector), 1.0)
    assert titan["embeddingsByType"]["binary"] == [1 if x > 0 else 0 for x in vector]
    assert titan["inputTextTokenCount"] == 2 and headers["x-amzn-bedrock-input-token-count"] == "2"
    cohere, _ = _invoke(brt, "fake-embedding", {"texts": ["a b", "c"], "input_type": "search_document"})
    assert cohere["response_type"] == "embeddings_floats" and cohere["texts"] == ["a b", "c"]
    assert [len(v) for v in cohere["embeddings"]] == [16, 16] and cohere["embeddings"][0] != cohere["embeddings"][1]


def test_unknown_body_and_model_access_as_bedrock_errors(stack: LocalStack, brt: Any) -> None:
    with pytest.raises(ClientError) as refused:
        brt.invoke_model(modelId="fake-gpt", body=json.dumps({"prompt": "\n\nHuman: hi\n\nAssistant:"}))
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "Anthropic Messages" in refused.value.response["Error"]["Message"]
    embeddings_only = hook_client(stack, key=new_key(stack, models=["fake-embedding"]))  # the caller's key rules
    with pytest.raises(ClientError) as denied:
        embeddings_only.invoke_model(modelId="fake-gpt", body=json.dumps(CLAUDE_BODY))
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert _invoke(embeddings_only, "fake-embedding", {"inputText": "ok"})[0]["inputTextTokenCount"] == 1


def test_boto3_count_tokens_for_converse_and_invoke_model_inputs(brt: Any) -> None:
    short = brt.count_tokens(modelId="fake-gpt", input={"converse": {"messages": HELLO}})["inputTokens"]
    longer = brt.count_tokens(
        modelId="fake-gpt",
        input={"converse": {"messages": [{"role": "user", "content": [{"text": "hi " * 50}]}]}},
    )["inputTokens"]
    assert (short, longer) == (SHORT_TOKENS, LONG_TOKENS)
    invoked = brt.count_tokens(modelId="fake-gpt", input={"invokeModel": {"body": json.dumps(CLAUDE_BODY).encode()}})
    assert invoked["inputTokens"] == CLAUDE_TOKENS


def test_guardrail_headers_on_invoke_model_and_its_stream(brt: Any) -> None:
    """boto3's guardrailIdentifier/guardrailVersion/trace (the X-Amzn-Bedrock-* headers) select the
    local stack's offline LiteLLM guardrail, as Converse's guardrailConfig does."""
    guard = {
        "guardrailIdentifier": LOCAL_GUARDRAIL["identifier"],
        "guardrailVersion": LOCAL_GUARDRAIL["version"],
        "trace": "ENABLED",
    }
    fine = json.loads(brt.invoke_model(modelId="fake-gpt", body=json.dumps(CLAUDE_BODY), **guard)["body"].read())
    assert fine["content"] == [{"type": "text", "text": WORDS}]
    assert fine["amazon-bedrock-guardrailAction"] == "NONE"
    blocked_body = {**CLAUDE_BODY, "messages": [{"role": "user", "content": f"tell me about {BLOCKED_WORD}"}]}
    blocked = json.loads(brt.invoke_model(modelId="fake-gpt", body=json.dumps(blocked_body), **guard)["body"].read())
    assert blocked["content"] == [{"type": "text", "text": "Blocked by policy."}]
    assert blocked["amazon-bedrock-guardrailAction"] == "INTERVENED"
    assert BLOCKED_WORD in blocked["amazon-bedrock-trace"]["guardrail"]["actionReason"]
    response = brt.invoke_model_with_response_stream(modelId="fake-gpt", body=json.dumps(blocked_body), **guard)
    events = [json.loads(event["chunk"]["bytes"]) for event in response["body"]]
    text = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    assert text == "Blocked by policy." and events[-1]["amazon-bedrock-guardrailAction"] == "INTERVENED"
    with pytest.raises(ClientError) as unknown:
        brt.invoke_model(
            modelId="fake-gpt", body=json.dumps(CLAUDE_BODY), guardrailIdentifier="grnone", guardrailVersion="1"
        )
    assert unknown.value.response["Error"]["Message"].startswith("Guardrail grnone version 1 is not configured")
