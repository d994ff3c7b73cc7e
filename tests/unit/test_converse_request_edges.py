"""converse_to_openai at its edges: tools, tool choice and tool use translated exactly, reasoning
and assistant turns as sent, and every refusal word for word with where it is."""

from __future__ import annotations

from typing import Any

import pytest
from gateway_core.converse.request import converse_to_openai
from gateway_core.errors import InvalidRequestError

USER = {"role": "user", "content": [{"text": "weather?"}]}
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}}
TOOLS = [
    {"toolSpec": {"name": "weather", "description": "Weather now", "inputSchema": {"json": WEATHER}}},
    {"cachePoint": {"type": "default"}},
    {"toolSpec": {"name": "time"}},
]


@pytest.mark.parametrize(
    ("choice", "sent"),
    [
        ({"auto": {}}, "auto"),
        ({"any": {}}, "required"),
        ({"tool": {"name": "weather"}}, {"type": "function", "function": {"name": "weather"}}),
    ],
)
def test_tools_and_tool_choice_are_translated(choice: dict[str, Any], sent: Any) -> None:
    body = converse_to_openai(
        "m", {"messages": [USER], "toolConfig": {"tools": TOOLS, "toolChoice": choice}}, stream=False
    )
    assert body["tools"] == [
        {"type": "function", "function": {"name": "weather", "parameters": WEATHER, "description": "Weather now"}},
        {"type": "function", "function": {"name": "time", "parameters": {"type": "object"}}},
    ]
    assert body["tool_choice"] == sent


def test_tool_use_reasoning_and_text_of_an_assistant_turn() -> None:
    assistant = {
        "role": "assistant",
        "content": [
            {"reasoningContent": {"reasoningText": {}}},
            {"text": "Checking."},
            {"toolUse": {"toolUseId": "t1", "name": "weather", "input": {"city": "Paris"}}},
            {"toolUse": {"toolUseId": "t2", "name": "time"}},
        ],
    }
    messages = converse_to_openai("m", {"messages": [USER, assistant]}, stream=False)["messages"]
    assert messages[1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "Checking."}],
        "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}},
            {"id": "t2", "type": "function", "function": {"name": "time", "arguments": "{}"}},
        ],
        "thinking_blocks": [{"type": "thinking", "thinking": "", "signature": ""}],
    }


def _refused(body: Any) -> str:
    with pytest.raises(InvalidRequestError) as refused:
        converse_to_openai("m", body, stream=False)
    return refused.value.message


def _one(block: dict[str, Any], role: str = "user") -> dict[str, Any]:
    return {"messages": [USER, {"role": role, "content": [block]}]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (["not", "an", "object"], "Request body must be a JSON object"),
        ({"messages": [USER], "bogus": 1}, "Unknown fields in a Converse request: ['bogus']"),
        (
            {"messages": [USER], "guardrailConfig": {"guardrailIdentifier": "g", "guardrailVersion": "1"}},
            "guardrailConfig is served on converse and converse-stream only (a LiteLLM guardrail mapped to the "
            "Bedrock guardrail in ecs_litellm/config.yaml), so the request was refused rather than run unguarded.",
        ),
        ({"messages": [USER], "system": "Be brief."}, "system must be a list of content blocks"),
        ({"messages": [USER, {"role": "system", "content": []}]}, "messages[1].role must be 'user' or 'assistant'"),
        (
            {"messages": [USER, {"role": "user", "content": "hi"}]},
            "messages[1].content must be a list of content blocks",
        ),
        (
            _one({"text": "a", "cachePoint": {}}),
            "messages[1].content[0]: each content block must be an object with exactly one member",
        ),
        (_one({"text": 5}), "messages[1].content[0].text must be a string"),
        (
            _one({"text": "  "}),
            "The text field in the ContentBlock object at messages.1.content.0 is blank. "
            "Add text to the text field, and try again.",
        ),
        (
            {"messages": [USER], "system": [{"text": " "}]},
            "The text field in the ContentBlock object at system.0 is blank. "
            "Add text to the text field, and try again.",
        ),
        (_one({"video": {}}), "messages[1].content[0]: content block 'video' is not supported by this gateway"),
        (
            _one({"toolUse": {"toolUseId": "t1", "name": "weather", "input": {}}}),
            "messages[1].content[0].toolUse needs role assistant, toolUseId and name",
        ),
        (
            _one({"toolResult": {"content": [{"text": "sunny"}]}}),
            "messages[1].content[0].toolResult needs role user and toolUseId",
        ),
        (
            _one({"document": {"format": "pdf", "name": "d", "source": {"s3Location": {"uri": "s3://b/d.pdf"}}}}),
            "document.source must carry bytes (s3Location is not supported by this gateway)",
        ),
        ({"messages": [USER], "toolConfig": "weather"}, "toolConfig.tools must be a list"),
        ({"messages": [USER], "toolConfig": {"tools": ["weather"]}}, "toolConfig.tools[0].toolSpec.name is required"),
        (
            {"messages": [USER], "toolConfig": {"tools": TOOLS, "toolChoice": {"none": {}}}},
            "toolConfig.toolChoice must be auto, any or tool",
        ),
        ({"messages": [USER], "inferenceConfig": 5}, "inferenceConfig must be an object"),
        (
            {"messages": [USER], "inferenceConfig": {"maxTokens": 5, "topK": 3}},
            "inferenceConfig has unknown fields: ['topK']",
        ),
        (
            {"messages": [USER], "additionalModelRequestFields": "top_k"},
            "additionalModelRequestFields must be an object",
        ),
        (
            {"messages": [USER], "additionalModelRequestFields": {"stream": True}},
            "additionalModelRequestFields.stream is set by the gateway from the Converse request and may not be given "
            "here (reserved: function_call, functions, max_completion_tokens, max_tokens, messages, metadata, model, "
            "n, stop, stream, stream_options, temperature, tool_choice, tools, top_p)",
        ),
        (
            _one({"toolUse": {"name": "weather", "input": {}}}, "assistant"),
            "messages[1].content[0].toolUse needs role assistant, toolUseId and name",
        ),
        (
            _one({"toolResult": {"toolUseId": "t1", "content": [{"text": "sunny"}]}}, "assistant"),
            "messages[1].content[0].toolResult needs role user and toolUseId",
        ),
        (
            _one({"guardContent": {"image": {"format": "png"}}}),
            "messages[1].content[0].guardContent must hold text.text (images are not supported)",
        ),
        (
            _one({"guardContent": "check me"}),
            "messages[1].content[0].guardContent must hold text.text (images are not supported)",
        ),
        (
            _one({"image": "cat.png"}),
            "messages[1].content[0].image.format must be one of ['gif', 'jpeg', 'png', 'webp']",
        ),
        (
            _one({"document": {"format": "odt", "name": "d", "source": {"bytes": "AA=="}}}),
            "messages[1].content[0].document.format must be one of "
            "['csv', 'doc', 'docx', 'html', 'md', 'pdf', 'txt', 'xls', 'xlsx']",
        ),
        (
            _one({"document": "report.pdf"}),
            "messages[1].content[0].document.format must be one of "
            "['csv', 'doc', 'docx', 'html', 'md', 'pdf', 'txt', 'xls', 'xlsx']",
        ),
    ],
)
def test_refusals_say_what_and_where(body: Any, message: str) -> None:
    assert _refused(body) == message
