"""Converse fields beyond the basics with real clients through the local stack: langchain-aws
structured output (outputConfig json_schema), a tool result carrying an image, Bedrock's own
refusals of blank and empty turns, and the service tier."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from langchain_aws import ChatBedrockConverse
from pydantic import BaseModel

from local.litellm_config import BLOCKED_WORD, LOCAL_GUARDRAIL
from tests.integration.conftest import LocalStack
from tests.integration.test_bedrock_interface import PNG_1PX, hook_client

pytestmark = pytest.mark.integration


class City(BaseModel):
    """A city and how many people live there."""

    name: str
    population: int


def test_langchain_aws_structured_output_with_json_schema(stack: LocalStack) -> None:
    llm = ChatBedrockConverse(model="fake-gpt", client=hook_client(stack), region_name="us-east-1")
    city = llm.with_structured_output(City, method="json_schema").invoke("Largest city in France?")
    assert city == City(name="fake", population=1)  # the fake model answers a sample of the schema it got


def test_tool_result_with_an_image_reaches_the_model(stack: LocalStack) -> None:
    echo = hook_client(stack, headers={"x-fake-echo": "1", "x-fake-chunks": "1"})
    messages = [
        {"role": "user", "content": [{"text": "Take a screenshot"}]},
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "screenshot", "input": {}}}]},
        {
            "role": "user",
            "content": [
                {
                    "toolResult": {
                        "toolUseId": "t1",
                        "content": [{"text": "done"}, {"image": {"format": "png", "source": {"bytes": PNG_1PX}}}],
                    }
                }
            ],
        },
    ]
    response = echo.converse(modelId="fake-gpt", messages=messages)
    received = json.loads(response["output"]["message"]["content"][0]["text"])["messages"]
    assert received[2] == {
        "role": "tool",
        "tool_call_id": "t1",
        "content": "done\n[1 attachment(s) returned by the tool follow in the next message]",
    }
    png = base64.b64encode(PNG_1PX).decode()
    assert received[3]["role"] == "user"
    assert received[3]["content"] == [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}}]


def _refusal(client: Any, **request: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as refused:
        client.converse(modelId="fake-gpt", **request)
    return refused.value.response["Error"]  # type: ignore[no-any-return]


def test_blank_text_and_empty_turns_are_refused_as_bedrock_does(stack: LocalStack) -> None:
    client = hook_client(stack)
    blank = _refusal(client, messages=[{"role": "user", "content": [{"text": " "}]}])
    assert blank == {
        "Code": "ValidationException",
        "Message": "The text field in the ContentBlock object at messages.0.content.0 is blank. "
        "Add text to the text field, and try again.",
    }
    hi = {"role": "user", "content": [{"text": "hi"}]}
    empty = _refusal(client, messages=[hi, {"role": "assistant", "content": []}, hi])
    assert empty["Message"] == (
        "The content field in the Message object at messages.1 is empty. "
        "Add a ContentBlock object to the content field and try again."
    )


def test_service_tier_is_passed_and_echoed(stack: LocalStack) -> None:
    echo = hook_client(stack, headers={"x-fake-echo": "1", "x-fake-chunks": "1"})
    response = echo.converse(
        modelId="fake-gpt", messages=[{"role": "user", "content": [{"text": "hi"}]}], serviceTier={"type": "flex"}
    )
    assert json.loads(response["output"]["message"]["content"][0]["text"])["service_tier"] == "flex"
    assert response["serviceTier"] == {"type": "flex"}


def test_a_guardrail_intervening(stack: LocalStack) -> None:
    """The local stack's offline LiteLLM guardrail serves Bedrock guardrail localguardrail/1."""
    client = hook_client(stack)
    guard = {
        "guardrailIdentifier": LOCAL_GUARDRAIL["identifier"],
        "guardrailVersion": LOCAL_GUARDRAIL["version"],
        "trace": "enabled",
    }
    fine = client.converse(
        modelId="fake-gpt", messages=[{"role": "user", "content": [{"text": "hi"}]}], guardrailConfig=guard
    )
    assert fine["stopReason"] == "end_turn"
    blocked = client.converse(
        modelId="fake-gpt",
        messages=[{"role": "user", "content": [{"text": f"tell me about {BLOCKED_WORD}"}]}],
        guardrailConfig=guard,
    )
    assert blocked["stopReason"] == "guardrail_intervened"
    assert blocked["output"]["message"]["content"] == [{"text": "Blocked by policy."}]
    assert BLOCKED_WORD in blocked["trace"]["guardrail"]["actionReason"]
    events = list(
        client.converse_stream(
            modelId="fake-gpt",
            messages=[{"role": "user", "content": [{"text": BLOCKED_WORD}]}],
            guardrailConfig=guard,
        )["stream"]
    )
    assert events[-2] == {"messageStop": {"stopReason": "guardrail_intervened"}}
    with pytest.raises(ClientError) as unknown:
        client.converse(
            modelId="fake-gpt",
            messages=[{"role": "user", "content": [{"text": "hi"}]}],
            guardrailConfig={"guardrailIdentifier": "grnone", "guardrailVersion": "1"},
        )
    assert unknown.value.response["Error"]["Message"].startswith("Guardrail grnone version 1 is not configured")
