"""LiteLLM's SSE chunks -> ConverseStream events, frame by frame as they arrive.

Bedrock's sequence: messageStart, then per content block [contentBlockStart (tool use only)],
contentBlockDelta..., contentBlockStop; then messageStop and metadata (usage + metrics).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from gateway_core.converse.errors import from_litellm_error
from gateway_core.converse.response import converse_usage, stop_reason
from gateway_core.eventstream import encode_event

__all__ = ["StreamTranslator", "parse_sse_line"]


def parse_sse_line(line: str) -> dict[str, Any] | None:
    """The JSON object of one ``data:`` line; None for anything else (comments, blanks, and
    ``[DONE]``, which is not JSON: no check of their own)."""
    if not line.startswith("data:"):
        return None
    try:
        value = json.loads(line[5:].strip())
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


Emit = Callable[[str, dict[str, Any]], bytes]


class StreamTranslator:
    """OpenAI chunks -> ConverseStream events; ``emit`` frames each event (InvokeModel's Nova
    stream wraps the same events in ``chunk`` frames)."""

    def __init__(self, emit: Emit = encode_event) -> None:
        self.emit = emit
        self.metadata: dict[str, Any] = {}  # more members of the metadata event (serviceTier, ...)
        self.started = time.perf_counter()
        self.message_started = False
        self.block: int | None = None  # index of the open content block
        self.block_kind = ""
        self.next_block = 0
        self.tool_calls: set[int] = set()  # OpenAI tool_call indexes whose block was opened
        self.stopped = False
        self.usage: dict[str, Any] | None = None

    def _open(self, kind: str, start: dict[str, Any] | None = None) -> list[bytes]:
        frames = self._close()
        self.block, self.block_kind = self.next_block, kind
        self.next_block += 1
        if start is not None:
            frames.append(self.emit("contentBlockStart", {"contentBlockIndex": self.block, "start": start}))
        return frames

    def _close(self) -> list[bytes]:
        if self.block is None:
            return []
        frame = self.emit("contentBlockStop", {"contentBlockIndex": self.block})
        self.block, self.block_kind = None, ""
        return [frame]

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return self.emit("contentBlockDelta", {"contentBlockIndex": self.block, "delta": delta})

    def _start_message(self) -> list[bytes]:
        if self.message_started:
            return []
        self.message_started = True
        return [self.emit("messageStart", {"role": "assistant"})]

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        """Frames for one LiteLLM chunk. Raises BedrockError for an in-band error chunk."""
        if "error" in chunk:
            error = chunk["error"]
            code = error.get("code") if isinstance(error, dict) else None
            raise from_litellm_error(int(str(code)) if str(code).isdigit() else 500, chunk)
        frames = self._start_message()
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            frames += self._choice(choice)
        return frames

    def _choice(self, choice: dict[str, Any]) -> list[bytes]:
        frames: list[bytes] = []
        delta = choice.get("delta") or {}
        reasoning = delta.get("reasoning_content")
        signatures = [b.get("signature") for b in delta.get("thinking_blocks") or [] if b.get("signature")]
        if reasoning or signatures:
            if self.block_kind != "reasoning":
                frames += self._open("reasoning")
            if reasoning:
                frames.append(self._delta({"reasoningContent": {"text": reasoning}}))
            frames += [self._delta({"reasoningContent": {"signature": s}}) for s in signatures]
        if delta.get("content"):
            if self.block_kind != "text":
                frames += self._open("text")
            frames.append(self._delta({"text": delta["content"]}))
        for call in delta.get("tool_calls") or []:
            index = call.get("index", 0)
            function = call.get("function") or {}
            if index not in self.tool_calls:
                start = {
                    "toolUse": {"toolUseId": call.get("id") or f"tooluse_{index}", "name": function.get("name") or ""}
                }
                frames += self._open("tool", start)
                self.tool_calls.add(index)
            if function.get("arguments"):
                frames.append(self._delta({"toolUse": {"input": function["arguments"]}}))
        if choice.get("finish_reason") and not self.stopped:
            frames += self._close()
            frames.append(self.emit("messageStop", {"stopReason": stop_reason(choice["finish_reason"])}))
            self.stopped = True
        return frames

    def finish(self) -> list[bytes]:
        """Frames closing the stream after LiteLLM's last chunk: messageStop (if due) and metadata."""
        frames = self._start_message() + self._close()
        if not self.stopped:
            frames.append(self.emit("messageStop", {"stopReason": "end_turn"}))
            self.stopped = True
        latency = int((time.perf_counter() - self.started) * 1000)
        frames.append(
            self.emit(
                "metadata", {"usage": converse_usage(self.usage), "metrics": {"latencyMs": latency}, **self.metadata}
            )
        )
        return frames
