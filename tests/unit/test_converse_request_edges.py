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
