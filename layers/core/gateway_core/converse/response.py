"""OpenAI chat-completion answers -> Converse response shapes (shared by converse and the stream)."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["STOP_REASONS", "converse_usage", "openai_to_converse", "stop_reason", "tool_input"]

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "content_filtered",
    "guardrail_intervened": "guardrail_intervened",
    "stop_sequence": "stop_sequence",
}


def stop_reason(finish_reason: str | None) -> str:
    return STOP_REASONS.get(finish_reason or "stop", "end_turn")


def tool_input(arguments: str | None) -> Any:
    try:
        return json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return {"_unparsed_arguments": arguments}  # keep what the model said rather than fail


def converse_usage(usage: dict[str, Any] | None) -> dict[str, int]:
    usage = usage or {}
    prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    out = {
        "inputTokens": prompt,
        "outputTokens": completion,
        "totalTokens": int(usage.get("total_tokens") or prompt + completion),
    }
    details = usage.get("prompt_tokens_details") or {}
    cache_read = usage.get("cache_read_input_tokens") or details.get("cached_tokens")
    cache_write = usage.get("cache_creation_input_tokens")
    if cache_read:
        out["cacheReadInputTokens"] = int(cache_read)
    if cache_write:
        out["cacheWriteInputTokens"] = int(cache_write)
    return out


def _reasoning_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = []
    for thinking in message.get("thinking_blocks") or []:
        if thinking.get("type") == "thinking":
            text = {"text": thinking.get("thinking", "")}
            if thinking.get("signature"):
                text["signature"] = thinking["signature"]
            blocks.append({"reasoningContent": {"reasoningText": text}})
    if not blocks and message.get("reasoning_content"):
        blocks.append({"reasoningContent": {"reasoningText": {"text": message["reasoning_content"]}}})
    return blocks


def openai_to_converse(answer: dict[str, Any], latency_ms: int) -> dict[str, Any]:
    choice = (answer.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content = _reasoning_blocks(message)
    text = message.get("content")
    if isinstance(text, str) and text:
        content.append({"text": text})
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        content.append(
            {
                "toolUse": {
                    "toolUseId": call.get("id"),
                    "name": function.get("name"),
                    "input": tool_input(function.get("arguments")),
                }
            }
        )
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop_reason(choice.get("finish_reason")),
        "usage": converse_usage(answer.get("usage")),
        "metrics": {"latencyMs": latency_ms},
    }
