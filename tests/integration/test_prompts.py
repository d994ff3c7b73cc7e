"""Bedrock managed prompts as the model, on both interfaces (GetPrompt served by the fake provider)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest
from botocore.exceptions import ClientError

from tests.integration.conftest import LocalStack
from tests.integration.test_bedrock_interface import hook_client

pytestmark = pytest.mark.integration
ARN = "arn:aws:bedrock:us-east-1:123456789012:prompt/"
TEXT, CHAT = ARN + "TEXTPROMPT", ARN + "CHATPROMPT"
ECHO = {"x-fake-echo": "true"}
FRUIT = {"topic": {"text": "fruit"}, "style": {"text": "pirate"}}


def echoed(completion: Any) -> dict[str, Any]:
    return dict(json.loads(completion.choices[0].message.content))


def converse_echo(response: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(response["output"]["message"]["content"][0]["text"]))


def test_openai_text_prompt_draft_and_version(stack: LocalStack) -> None:
    client = stack.openai()
    sent = echoed(
        client.chat.completions.create(
            model=TEXT, messages=[], extra_body={"promptVariables": FRUIT}, extra_headers=ECHO
        )
    )
    assert sent["model"] == "fake-gpt"
    assert sent["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Tell me about fruit in pirate style."}]}
    ]
    assert sent["temperature"] == 0.2 and sent["max_tokens"] == 321

    versioned = echoed(
        client.chat.completions.create(
            model=TEXT + ":1",
            messages=[{"role": "user", "content": "And more."}],
            temperature=0.1,
            extra_body={"promptVariables": {"topic": {"text": "pears"}}},
            extra_headers=ECHO,
        )
    )
    assert versioned["messages"][0]["content"][0]["text"] == "Version one about pears."
    assert versioned["messages"][1] == {"role": "user", "content": "And more."}  # request messages follow
    assert (
        versioned["temperature"] == 0.1 and versioned["max_tokens"] == 111 and versioned["top_p"] == 0.9
    )  # request wins

    plain = client.chat.completions.create(model=TEXT, messages=[], extra_body={"promptVariables": FRUIT})
    assert plain.choices[0].message.content == "The quick brown fox jumps over the lazy"


def test_openai_chat_prompt_streams(stack: LocalStack) -> None:
    stream = stack.openai().chat.completions.create(
        model=CHAT,
        messages=[],
        stream=True,
        extra_body={"promptVariables": {"product": {"text": "Widget"}, "problem": {"text": "It hums."}}},
        extra_headers=ECHO,
    )
    sent = json.loads("".join(c.choices[0].delta.content or "" for c in stream if c.choices))
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "user"]
    assert sent["messages"][0]["content"][0]["text"] == "You are a support agent for Widget."
    assert sent["messages"][3]["content"][0]["text"] == "It hums."
    assert sent["max_tokens"] == 222


def test_bedrock_chat_prompt_converse_and_stream(stack: LocalStack) -> None:
    brt = hook_client(stack, headers=ECHO)
    variables = {"product": {"text": "Widget"}, "problem": {"text": "It hums."}}
    sent = converse_echo(brt.converse(modelId=CHAT, promptVariables=variables))
    assert sent["model"] == "fake-gpt" and sent["max_tokens"] == 222
    assert sent["messages"][1]["content"][0]["text"] == "Hello, I need help with Widget."

    versioned = converse_echo(
        brt.converse(
            modelId=CHAT + ":3",
            promptVariables={"product": {"text": "Gizmo"}},
            messages=[{"role": "user", "content": [{"text": "Briefly."}]}],
        )
    )
    assert [m["content"][0]["text"] for m in versioned["messages"]] == [
        "Version three system for Gizmo.",
        "Explain Gizmo.",
        "Briefly.",
    ]

    stream = hook_client(stack).converse_stream(modelId=TEXT + ":1", promptVariables={"topic": {"text": "kiwi"}})
    events = list(stream["stream"])
    assert events[-1]["metadata"]["usage"]["outputTokens"] == 8
    assert (
        "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
        == "The quick brown fox jumps over the lazy"
    )


def test_prompt_with_history_stores_the_rendered_prompt(stack: LocalStack) -> None:
    response = stack.openai().chat.completions.create(
        model=TEXT, messages=[], extra_body={"promptVariables": FRUIT, "enable_history": True}
    )
    history = httpx.post(
        f"{stack.gateway_url}/chat-history",
        headers={"Authorization": f"Bearer {stack.master_key}"},
        json={"session_id": response.model_extra["session_id"]},
    ).json()["messages"]
    assert history[0]["content"][0]["text"] == "Tell me about fruit in pirate style."


@pytest.mark.parametrize(
    ("model", "variables", "status", "needle"),
    [
        (TEXT, {"topic": {"text": "fruit"}}, 400, "missing: style"),
        (TEXT, {**FRUIT, "colour": {"text": "red"}}, 400, "unknown: colour"),
        (TEXT, {"topic": "fruit", "style": {"text": "x"}}, 400, "promptVariables.topic"),
        (ARN + "NOSUCHPRMT", {}, 404, "not found"),
        (TEXT + ":9", FRUIT, 404, "not found"),
        (ARN + "short", {}, 400, "is not a prompt ARN"),
        (ARN + "NOMODEL000", {}, 400, "names no model"),
        ("fake-gpt", FRUIT, 400, "only when"),
    ],
)
def test_prompt_errors_on_both_interfaces(
    stack: LocalStack, model: str, variables: dict[str, Any], status: int, needle: str
) -> None:
    with pytest.raises(openai.APIStatusError) as openai_error:
        stack.openai().chat.completions.create(model=model, messages=[], extra_body={"promptVariables": variables})
    assert openai_error.value.status_code == status and needle in openai_error.value.message
    if any(not isinstance(v, dict) for v in variables.values()):
        return  # boto3 refuses to send such variables itself

    with pytest.raises(ClientError) as bedrock_error:
        hook_client(stack).converse(
            modelId=model, promptVariables=variables, messages=[{"role": "user", "content": [{"text": "x"}]}]
        )
    expected = {400: "ValidationException", 404: "ResourceNotFoundException"}[status]
    assert bedrock_error.value.response["Error"]["Code"] == expected
    assert needle in bedrock_error.value.response["Error"]["Message"]
    if model == "fake-gpt":
        return  # on InvokeModel, promptVariables beside a model name is not a body format (test_invoke_model)
    with pytest.raises(ClientError) as invoke_error:
        hook_client(stack).invoke_model(modelId=model, body=json.dumps({"promptVariables": variables}))
    assert invoke_error.value.response["Error"]["Code"] == expected
    assert needle in invoke_error.value.response["Error"]["Message"]


def test_invoke_model_runs_a_chat_prompt_as_an_anthropic_body(stack: LocalStack) -> None:
    variables = {"product": {"text": "Widget"}, "problem": {"text": "It hums."}}
    response = hook_client(stack, headers=ECHO).invoke_model(
        modelId=CHAT, body=json.dumps({"promptVariables": variables})
    )
    answer = json.loads(response["body"].read())
    assert answer["type"] == "message" and answer["role"] == "assistant" and answer["stop_reason"] == "end_turn"
    sent = json.loads(answer["content"][0]["text"])  # what LiteLLM's /v1/messages sent the provider
    assert sent["model"] == "fake-gpt" and sent["max_tokens"] == 222
    texts = [
        (m["role"], m["content"] if isinstance(m["content"], str) else "".join(b["text"] for b in m["content"]))
        for m in sent["messages"]
    ]  # LiteLLM sends an assistant turn's text as a string, the others as text blocks
    assert texts == [
        ("system", "You are a support agent for Widget."),
        ("user", "Hello, I need help with Widget."),
        ("assistant", "Of course. What is the problem?"),
        ("user", "It hums."),
    ]


def test_invoke_model_with_response_stream_runs_a_text_prompt(stack: LocalStack) -> None:
    response = hook_client(stack).invoke_model_with_response_stream(
        modelId=TEXT + ":1", body=json.dumps({"promptVariables": {"topic": {"text": "kiwi"}}})
    )
    events = [json.loads(event["chunk"]["bytes"]) for event in response["body"]]
    assert [e["type"] for e in events][0] == "message_start" and events[-1]["type"] == "message_stop"
    text = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    assert text == "The quick brown fox jumps over the lazy"
    assert events[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 8


def test_invoke_model_takes_only_prompt_variables_beside_a_prompt(stack: LocalStack) -> None:
    body = {"promptVariables": FRUIT, "max_tokens": 5}
    with pytest.raises(ClientError) as error:
        hook_client(stack).invoke_model(modelId=TEXT, body=json.dumps(body))
    assert error.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "With a prompt ARN as modelId, the InvokeModel body takes only promptVariables (got: max_tokens)",
    }
