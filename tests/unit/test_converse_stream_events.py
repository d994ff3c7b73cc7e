"""StreamTranslator and the answer translation at their edges, event by event: reasoning with its
signature, text, tool calls (with and without ids, names and arguments), a stream that ends
without a finish reason, in-band errors of every shape, and usage with missing counts."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from gateway_core.converse import stream
from gateway_core.converse.errors import BedrockError
from gateway_core.converse.response import converse_usage, openai_to_converse, stop_reason, tool_input
from gateway_core.converse.stream import StreamTranslator, parse_sse_line

from tests.unit.conftest import FakeClock


def _events(frames: list[bytes]) -> list[tuple[str, dict[str, Any]]]:
    return [tuple(json.loads(frame)) for frame in frames]  # type: ignore[misc]


def _translator(monkeypatch: pytest.MonkeyPatch) -> tuple[StreamTranslator, FakeClock]:
    clock = FakeClock()
    monkeypatch.setattr(stream, "time", SimpleNamespace(perf_counter=clock))
    return StreamTranslator(emit=lambda name, body: json.dumps([name, body]).encode()), clock


def _delta(**delta: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta}]}


def test_reasoning_text_and_two_tool_calls_are_blocks_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    translator, clock = _translator(monkeypatch)
    chunks = [
        _delta(reasoning_content="think", thinking_blocks=[{"type": "thinking", "thinking": "think"}]),
        _delta(thinking_blocks=[{"type": "thinking", "signature": "sig"}]),
        _delta(content="Let me check."),
        _delta(tool_calls=[{"index": 0, "id": "call_1", "function": {"name": "weather", "arguments": ""}}]),
        _delta(tool_calls=[{"index": 0, "function": {"arguments": '{"city":'}}]),
        _delta(tool_calls=[{"index": 0, "function": {"arguments": '"Paris"}'}}]),
        _delta(tool_calls=[{"index": 1, "function": {"name": "time", "arguments": "{}"}}]),
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}},
    ]
    frames = [frame for chunk in chunks for frame in translator.feed(chunk)]
    clock.advance(2.5)
    assert _events(frames + translator.finish()) == [
        ("messageStart", {"role": "assistant"}),
        ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "think"}}}),
        ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "sig"}}}),
        ("contentBlockStop", {"contentBlockIndex": 0}),
        ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "Let me check."}}),
        ("contentBlockStop", {"contentBlockIndex": 1}),
        (
            "contentBlockStart",
            {"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "call_1", "name": "weather"}}},
        ),
        ("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": '{"city":'}}}),
        ("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": '"Paris"}'}}}),
        ("contentBlockStop", {"contentBlockIndex": 2}),
        (
            "contentBlockStart",
            {"contentBlockIndex": 3, "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "time"}}},
        ),
        ("contentBlockDelta", {"contentBlockIndex": 3, "delta": {"toolUse": {"input": "{}"}}}),
        ("contentBlockStop", {"contentBlockIndex": 3}),
        ("messageStop", {"stopReason": "tool_use"}),
        (
            "metadata",
            {"usage": {"inputTokens": 9, "outputTokens": 4, "totalTokens": 13}, "metrics": {"latencyMs": 2500}},
        ),
    ]


def test_a_tool_call_without_index_id_or_function_and_a_stream_without_finish_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    translator, _ = _translator(monkeypatch)
    frames = translator.feed(_delta(tool_calls=[{"type": "function"}])) + translator.finish()
    assert _events(frames) == [
        ("messageStart", {"role": "assistant"}),
        ("contentBlockStart", {"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "tooluse_0", "name": ""}}}),
        ("contentBlockStop", {"contentBlockIndex": 0}),
        ("messageStop", {"stopReason": "end_turn"}),
        ("metadata", {"usage": {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0}, "metrics": {"latencyMs": 0}}),
    ]


@pytest.mark.parametrize(
    ("chunk", "expected"),
    [
        ({"error": "upstream exploded"}, (500, "InternalServerException", "upstream exploded")),
        ({"error": {"message": "slow down", "code": 429}}, (429, "ThrottlingException", "slow down")),
    ],
)
def test_in_band_errors_of_any_shape_raise_the_bedrock_error(
    chunk: dict[str, Any], expected: tuple[int, str, str]
) -> None:
    with pytest.raises(BedrockError) as raised:
        StreamTranslator().feed(chunk)
    assert (raised.value.status, raised.value.error_type, raised.value.message) == expected


def test_sse_data_lines_with_or_without_the_space() -> None:
    assert parse_sse_line('data:{"a":1}') == {"a": 1}
    assert parse_sse_line('data: {"a":1}') == {"a": 1}
    assert parse_sse_line("data: [DONE]") is None


@pytest.mark.parametrize("line", ["data:", "data:   ", "data: [1, 2]", "data: 42", 'data: "text"', "data: {", ": ping"])
def test_sse_lines_that_are_not_a_json_object_are_skipped(line: str) -> None:
    # a chunk is an object; anything else would reach StreamTranslator.feed and break the stream
    assert parse_sse_line(line) is None


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"completion_tokens": 2}, {"inputTokens": 0, "outputTokens": 2, "totalTokens": 2}),
        ({"prompt_tokens": 3}, {"inputTokens": 3, "outputTokens": 0, "totalTokens": 3}),
        ({"prompt_tokens": 3, "completion_tokens": 2}, {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5}),
        # LiteLLM's own total, as it reports it
        (
            {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 7},
            {"inputTokens": 3, "outputTokens": 2, "totalTokens": 7},
        ),
        (
            {
                "prompt_tokens": 8,
                "completion_tokens": 1,
                "total_tokens": 9,
                "prompt_tokens_details": {"cached_tokens": 6},
            },
            {"inputTokens": 8, "outputTokens": 1, "totalTokens": 9, "cacheReadInputTokens": 6},
        ),
    ],
)
def test_usage_with_missing_counts(usage: dict[str, Any], expected: dict[str, int]) -> None:
    assert converse_usage(usage) == expected


def test_an_unknown_finish_reason_is_end_turn_and_tool_arguments_survive_as_sent() -> None:
    assert stop_reason("something_new") == "end_turn"
    assert tool_input(None) == {}
    assert tool_input("") == {}
    assert tool_input('{"city": "Par') == {"_unparsed_arguments": '{"city": "Par'}


def test_a_thinking_block_with_only_a_signature_and_the_latency() -> None:
    answer = {
        "choices": [
            {
                "message": {"content": "ok", "thinking_blocks": [{"type": "thinking", "signature": "s1"}]},
                "finish_reason": "stop",
            }
        ]
    }
    assert openai_to_converse(answer, 42) == {
        "output": {
            "message": {
                "role": "assistant",
                "content": [{"reasoningContent": {"reasoningText": {"text": "", "signature": "s1"}}}, {"text": "ok"}],
            }
        },
        "stopReason": "end_turn",
        "usage": {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0},
        "metrics": {"latencyMs": 42},
    }


def test_text_and_a_tool_call_in_one_chunk_keep_both(monkeypatch: pytest.MonkeyPatch) -> None:
    translator, _ = _translator(monkeypatch)
    chunk = _delta(content="Checking.", tool_calls=[{"index": 0, "id": "c1", "function": {"name": "weather"}}])
    assert _events(translator.feed(chunk)) == [
        ("messageStart", {"role": "assistant"}),
        ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Checking."}}),
        ("contentBlockStop", {"contentBlockIndex": 0}),
        ("contentBlockStart", {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "c1", "name": "weather"}}}),
    ]


def test_reasoning_and_text_in_one_chunk_keep_both(monkeypatch: pytest.MonkeyPatch) -> None:
    translator, _ = _translator(monkeypatch)
    chunk = _delta(reasoning_content="Hmm.", content="Paris.")
    assert _events(translator.feed(chunk)) == [
        ("messageStart", {"role": "assistant"}),
        ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Hmm."}}}),
        ("contentBlockStop", {"contentBlockIndex": 0}),
        ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "Paris."}}),
    ]


@pytest.mark.parametrize("content", ["", None])
def test_an_answer_with_only_a_tool_call_has_no_text_block(content: str | None) -> None:
    call = {"id": "c1", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}
    answer = {"choices": [{"message": {"content": content, "tool_calls": [call]}, "finish_reason": "tool_calls"}]}
    assert openai_to_converse(answer, 7)["output"]["message"]["content"] == [
        {"toolUse": {"toolUseId": "c1", "name": "weather", "input": {"city": "Paris"}}}
    ]
