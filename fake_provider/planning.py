"""What the fake model answers, decided once from a neutral view of the request.

Both wire formats (OpenAI, Bedrock) reduce their request to ``Prompt`` and render the ``Answer``.
Rules: offered tools are called (the named one, else the first) unless the last message is a
tool result; a json_schema response_format is answered with a sample of the schema; ``max_tokens``
truncates (finish "length"); a stop sequence cuts (finish "stop").
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from fake_provider.knobs import Knobs

__all__ = ["Answer", "Prompt", "ToolSpec", "plan_answer"]

_WORDS = "The quick brown fox jumps over the lazy dog while the fake model keeps talking".split()


@dataclass(frozen=True)
class ToolSpec:
    name: str
    schema: dict[str, Any]


@dataclass
class Prompt:
    texts: list[str]  # every text the model was shown (system + messages), for token counts
    tools: list[ToolSpec] = field(default_factory=list)
    forced_tool: str | None = None  # tool_choice naming one tool
    tools_disabled: bool = False  # tool_choice "none"
    last_tool_result: str | None = None  # the last message is a tool result
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)
    raw: Any = None  # the request as received (for echo)
    response_schema: dict[str, Any] | None = None  # response_format json_schema: answer a sample of it


@dataclass
class Answer:
    pieces: list[str]  # text, one piece per streamed chunk
    finish: str  # stop | length | tool_calls
    prompt_tokens: int
    tool_name: str | None = None
    tool_call_id: str | None = None
    tool_arguments: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def completion_tokens(self) -> int:
        return len(self.pieces) if self.tool_name is None else max(1, len(json.dumps(self.tool_arguments)) // 4)


def _sample(schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object":
        props = schema.get("properties", {})
        return {name: _sample(props[name]) for name in schema.get("required", list(props)) if name in props}
    return {"integer": 1, "number": 1.5, "boolean": True, "array": []}.get(str(kind), "fake")


def _split(text: str, count: int) -> list[str]:
    size = max(1, -(-len(text) // count))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def plan_answer(prompt: Prompt, knobs: Knobs) -> Answer:
    prompt_tokens = max(1, sum(len(t.split()) for t in prompt.texts))
    tool = None
    if prompt.tools and not prompt.tools_disabled and prompt.last_tool_result is None:
        tool = next((t for t in prompt.tools if t.name == prompt.forced_tool), prompt.tools[0])
    if tool is not None:
        call_id = "call_" + uuid.uuid4().hex[:20]
        return Answer([], "tool_calls", prompt_tokens, tool.name, call_id, _sample(tool.schema))

    if knobs.echo:
        pieces = _split(json.dumps(prompt.raw, separators=(",", ":")), knobs.chunks)
    elif prompt.response_schema is not None:
        pieces = _split(json.dumps(_sample(prompt.response_schema)), knobs.chunks)
    elif prompt.last_tool_result is not None:
        pieces = _split(f"Tool result received: {prompt.last_tool_result}", knobs.chunks)
    else:
        pieces = [("" if i == 0 else " ") + _WORDS[i % len(_WORDS)] for i in range(knobs.chunks)]

    finish = "stop"
    if prompt.max_tokens is not None and prompt.max_tokens < len(pieces):
        pieces, finish = pieces[: max(prompt.max_tokens, 0)], "length"
    text = "".join(pieces)
    for stop in prompt.stop:
        if stop and stop in text:
            cut = text.index(stop)
            kept, used = [], 0
            for piece in pieces:
                if used + len(piece) > cut:
                    if cut > used:
                        kept.append(piece[: cut - used])
                    break
                kept.append(piece)
                used += len(piece)
            pieces, finish = kept, "stop_sequence"
            break
    return Answer(pieces, finish, prompt_tokens)
