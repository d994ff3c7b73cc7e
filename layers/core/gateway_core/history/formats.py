"""Stored history (OpenAI chat messages) rendered in Bedrock Converse's shape.

History is stored in OpenAI's format, the one both interfaces send to LiteLLM. For
``/bedrock/chat-history`` it becomes Converse ``messages`` + ``system``: tool calls become
``toolUse`` blocks, tool results ``toolResult`` blocks in a user turn, images and documents
their byte-source blocks (base64, as on Bedrock's JSON wire), and consecutive messages of one
role merge into one turn, since Converse requires alternating roles.
"""

from __future__ import annotations

import json
from typing import Any

from gateway_core.converse.response import tool_input

__all__ = ["openai_to_converse_history"]

_DOCUMENT_FORMATS = {
    "application/pdf": "pdf",
    "text/csv": "csv",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html",
    "text/plain": "txt",
    "text/markdown": "md",
}


def _data_url(url: Any) -> tuple[str, str] | None:
    """(media type, base64 payload) of a ``data:`` URL; None for anything else."""
    if not isinstance(url, str) or not url.startswith("data:") or ";base64," not in url:
        return None
    media, _, payload = url[5:].partition(";base64,")
    return media.split(";", 1)[0], payload  # without parameters (data:image/png;name=a.png;base64,...)


def _block(part: Any) -> dict[str, Any]:
    if isinstance(part, str):
        return {"text": part}
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text":
        return {"text": str(part.get("text", ""))}
    if kind == "image_url":
        url = (part.get("image_url") or {}).get("url", "")
        data = _data_url(url)
        if data and data[0].startswith("image/"):
            return {"image": {"format": data[0].removeprefix("image/"), "source": {"bytes": data[1]}}}
        return {"text": f"[image: {url}]"}
    if kind == "file":
        file = part.get("file") or {}
        data = _data_url(file.get("file_data"))
        if data and data[0] in _DOCUMENT_FORMATS:
            name = str(file.get("filename") or "document").rsplit(".", 1)[0]
            return {"document": {"format": _DOCUMENT_FORMATS[data[0]], "name": name, "source": {"bytes": data[1]}}}
    return {"text": json.dumps(part)}


def _blocks(content: Any) -> list[dict[str, Any]]:
    if content is None or content == "":
        return []
    if isinstance(content, list):
        return [_block(part) for part in content]
    return [{"text": str(content)}]


def _assistant_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for thinking in message.get("thinking_blocks") or []:
        if isinstance(thinking, dict) and thinking.get("type") == "thinking":
            text = {"text": thinking.get("thinking", "")}
            if thinking.get("signature"):
                text["signature"] = thinking["signature"]
            blocks.append({"reasoningContent": {"reasoningText": text}})
    blocks += _blocks(message.get("content"))
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        use = {
            "toolUseId": call.get("id"),
            "name": function.get("name"),
            "input": tool_input(function.get("arguments")),
        }
        blocks.append({"toolUse": use})
    return blocks


def _tool_result(message: dict[str, Any]) -> dict[str, Any]:
    content = message.get("content")
    text = content if isinstance(content, str) else json.dumps(content)
    return {"toolResult": {"toolUseId": message.get("tool_call_id"), "content": [{"text": text}]}}


def openai_to_converse_history(messages: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role in {"system", "developer"}:
            system += _blocks(message.get("content"))
            continue
        if role == "assistant":
            converse_role, blocks = "assistant", _assistant_blocks(message)
        elif role == "tool":
            converse_role, blocks = "user", [_tool_result(message)]
        else:
            converse_role, blocks = "user", _blocks(message.get("content"))
        if not blocks:
            continue
        if turns and turns[-1]["role"] == converse_role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": converse_role, "content": blocks})
    return {"messages": turns, "system": system}
