"""Converse <-> OpenAI translation details that the fake provider cannot show end to end."""

from __future__ import annotations

import json

import pytest
from botocore.eventstream import EventStreamBuffer
from gateway_core.converse.errors import BedrockError, from_litellm_error
from gateway_core.converse.request import converse_to_openai
from gateway_core.converse.response import openai_to_converse
from gateway_core.converse.stream import StreamTranslator
from gateway_core.errors import InvalidRequestError

USER = {"role": "user", "content": [{"text": "hi"}]}


def test_documents_cache_points_and_guard_content_are_translated_not_dropped() -> None:
    body = {
        "system": [{"text": "rules"}, {"cachePoint": {"type": "default"}}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"document": {"format": "pdf", "name": "spec", "source": {"bytes": "JVBERi0="}}},
                    {"guardContent": {"text": {"text": "check me"}}},
                ],
            },
        ],
        "requestMetadata": {"team": "a"},
    }
    out = converse_to_openai("m", body, stream=False)
    system, user = out["messages"]
    assert system["content"] == [{"type": "text", "text": "rules", "cache_control": {"type": "ephemeral"}}]
    assert user["content"][0] == {
        "type": "file",
        "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "spec"},
    }
    assert user["content"][1] == {"type": "text", "text": "check me"}
    assert out["metadata"] == {"requestMetadata": {"team": "a"}}


def test_reasoning_content_goes_back_as_thinking_blocks() -> None:
    assistant = {
        "role": "assistant",
        "content": [{"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "sig"}}}, {"text": "42"}],
    }
    out = converse_to_openai("m", {"messages": [USER, assistant, USER]}, stream=False)
    assert out["messages"][1]["thinking_blocks"] == [{"type": "thinking", "thinking": "hmm", "signature": "sig"}]


@pytest.mark.parametrize(
    "body",
    [
        {"messages": []},
        {"messages": [{"role": "user", "content": "not a list"}]},
        {"messages": [{"role": "user", "content": [{"video": {}}]}]},
        {"messages": [{"role": "user", "content": [{"image": {"format": "bmp", "source": {"bytes": ""}}}]}]},
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"image": {"format": "png", "source": {"s3Location": {"uri": "s3://b/k"}}}}],
                }
            ]
        },
        {"messages": [USER], "inferenceConfig": {"maxTokenz": 1}},
        {"messages": [USER], "toolConfig": {"tools": [{"toolSpec": {}}]}},
        {"messages": [USER], "guardrailConfig": {"guardrailIdentifier": "g", "guardrailVersion": "1"}},
        [USER],
    ],
)
def test_invalid_requests_are_refused_with_a_reason(body: object) -> None:
    with pytest.raises(InvalidRequestError):
        converse_to_openai("m", body, stream=False)


def test_response_with_reasoning_tools_and_cache_usage() -> None:
    answer = {
        "choices": [
            {
                "finish_reason": "tool_calls",
                "message": {
                    "content": "let me check",
                    "reasoning_content": "thinking...",
                    "tool_calls": [{"id": "t1", "function": {"name": "f", "arguments": '{"a": 1}'}}],
                },
            }
        ],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "total_tokens": 15,
            "cache_read_input_tokens": 4,
            "cache_creation_input_tokens": 2,
        },
    }
    out = openai_to_converse(answer, 12)
    assert out["output"]["message"]["content"] == [
        {"reasoningContent": {"reasoningText": {"text": "thinking..."}}},
        {"text": "let me check"},
        {"toolUse": {"toolUseId": "t1", "name": "f", "input": {"a": 1}}},
    ]
    assert out["stopReason"] == "tool_use"
    assert out["usage"] == {
        "inputTokens": 10,
        "outputTokens": 5,
        "totalTokens": 15,
        "cacheReadInputTokens": 4,
        "cacheWriteInputTokens": 2,
    }


def _events(frames: list[bytes]) -> list[tuple[str, dict[str, object]]]:
    buffer = EventStreamBuffer()
    buffer.add_data(b"".join(frames))
    return [(m.headers[":event-type"], json.loads(m.payload)) for m in buffer]


def test_stream_reasoning_then_text_are_separate_blocks() -> None:
    translator = StreamTranslator()
    frames = []
    for delta in ({"role": "assistant", "reasoning_content": "a"}, {"reasoning_content": "b"}, {"content": "x"}):
        frames += translator.feed({"choices": [{"index": 0, "delta": delta}]})
    frames += translator.feed({"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})
    frames += translator.feed({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}})
    frames += translator.finish()
    events = _events(frames)
    assert [name for name, _ in events] == [
        "messageStart",
        "contentBlockDelta",
        "contentBlockDelta",
        "contentBlockStop",
        "contentBlockDelta",
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    assert events[1][1] == {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "a"}}}
    assert events[4][1] == {"contentBlockIndex": 1, "delta": {"text": "x"}}
    assert events[6][1] == {"stopReason": "max_tokens"}
    assert events[7][1]["usage"] == {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5}  # type: ignore[index]


@pytest.mark.parametrize(
    ("status", "message", "code"),
    [
        (429, "rate limited", "ThrottlingException"),
        (400, "Budget has been exceeded! Current cost: 1", "AccessDeniedException"),
        (400, "Invalid model name passed in model=x", "ResourceNotFoundException"),
        (401, "bad key", "AccessDeniedException"),
        (500, "boom", "InternalServerException"),
        (503, "down", "ServiceUnavailableException"),
    ],
)
def test_litellm_errors_map_to_bedrock_exceptions(status: int, message: str, code: str) -> None:
    assert from_litellm_error(status, {"error": {"message": message}}).error_type == code


def test_in_band_stream_error_becomes_a_modeled_exception() -> None:
    with pytest.raises(BedrockError) as caught:
        StreamTranslator().feed({"error": {"message": "slow down", "code": "429"}})
    assert (caught.value.status, caught.value.error_type, caught.value.message) == (
        429,
        "ThrottlingException",
        "slow down",
    )
    assert caught.value.stream_exception_type == "throttlingException"
