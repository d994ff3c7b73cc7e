"""Converse request -> OpenAI chat-completions body for LiteLLM. Nothing is silently dropped:
every block is translated or the request is refused with a ValidationException that says why."""

from __future__ import annotations

import json
from typing import Any

from gateway_core.converse.options import request_options
from gateway_core.errors import InvalidRequestError

__all__ = ["converse_to_openai"]

_IMAGE_FORMATS = {"png", "jpeg", "gif", "webp"}
_DOCUMENT_TYPES = {
    "pdf": "application/pdf",
    "csv": "text/csv",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html",
    "txt": "text/plain",
    "md": "text/markdown",
}
# Chat-completions fields the translation owns: a Converse field or the route decides them, so
# additionalModelRequestFields may not set them (a "stream" there would turn a Converse answer
# into an SSE stream the translation cannot read).
_RESERVED_FIELDS = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "n",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "tools",
        "tool_choice",
        "functions",
        "function_call",
        "metadata",
    }
)
_FIELDS = {  # every Converse request member but modelId (the path) and promptVariables (rendered before)
    "messages",
    "system",
    "inferenceConfig",
    "toolConfig",
    "guardrailConfig",
    "additionalModelRequestFields",
    "additionalModelResponseFieldPaths",
    "requestMetadata",
    "performanceConfig",
    "serviceTier",
    "outputConfig",
    "projectIdentifier",
}
_GUARDRAIL_REFUSAL = (
    "guardrailConfig is served on converse and converse-stream only (a LiteLLM guardrail mapped to the "
    "Bedrock guardrail in ecs_litellm/config.yaml), so the request was refused rather than run unguarded."
)


def _fail(message: str) -> InvalidRequestError:
    return InvalidRequestError(message)


def _bytes_source(block: dict[str, Any], kind: str) -> str:
    source = block.get("source")
    if not isinstance(source, dict) or not isinstance(source.get("bytes"), str):
        raise _fail(f"{kind}.source must carry bytes (s3Location is not supported by this gateway)")
    return str(source["bytes"])


def _part(block: Any, where: str) -> dict[str, Any] | None:
    """One user/assistant/system content block as an OpenAI content part (None: not a part)."""
    if not isinstance(block, dict) or len(block) != 1:
        raise _fail(f"{where}: each content block must be an object with exactly one member")
    ((kind, value),) = block.items()
    if kind == "text":
        if not isinstance(value, str):
            raise _fail(f"{where}.text must be a string")
        if not value.strip():
            raise _fail(_blank(where))
        return {"type": "text", "text": value}
    if kind == "guardContent":  # its text is still model input; the LiteLLM guardrail checks the whole input
        text = (value.get("text") or {}).get("text") if isinstance(value, dict) else None
        if not isinstance(text, str):
            raise _fail(f"{where}.guardContent must hold text.text (images are not supported)")
        return {"type": "text", "text": text}
    if kind == "image":
        fmt = value.get("format") if isinstance(value, dict) else None
        if fmt not in _IMAGE_FORMATS:
            raise _fail(f"{where}.image.format must be one of {sorted(_IMAGE_FORMATS)}")
        return {"type": "image_url", "image_url": {"url": f"data:image/{fmt};base64,{_bytes_source(value, 'image')}"}}
    if kind == "document":
        fmt = value.get("format") if isinstance(value, dict) else None
        if fmt not in _DOCUMENT_TYPES:
            raise _fail(f"{where}.document.format must be one of {sorted(_DOCUMENT_TYPES)}")
        data = f"data:{_DOCUMENT_TYPES[fmt]};base64,{_bytes_source(value, 'document')}"
        return {"type": "file", "file": {"file_data": data, "filename": str(value.get("name") or f"document.{fmt}")}}
    if kind == "cachePoint":
        return None
    raise _fail(f"{where}: content block '{kind}' is not supported by this gateway")


def _parts(blocks: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(blocks, list):
        raise _fail(f"{where} must be a list of content blocks")
    parts: list[dict[str, Any]] = []
    for index, block in enumerate(blocks):
        part = _part(block, f"{where}[{index}]")
        if part is not None:
            parts.append(part)
        elif parts:  # cachePoint: cache everything up to the previous part
            parts[-1]["cache_control"] = {"type": "ephemeral"}
    return parts


def _dotted(where: str) -> str:
    """messages[0].content[1] as Bedrock writes it: messages.0.content.1"""
    return where.replace("[", ".").replace("]", "")


def _blank(where: str) -> str:
    return (
        f"The text field in the ContentBlock object at {_dotted(where)} is blank. "
        "Add text to the text field, and try again."
    )


def _tool_result(result: dict[str, Any], where: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The OpenAI tool message, and the images and documents the tool returned: OpenAI tool
    messages carry text only, so those follow in the next user message, on any provider."""
    pieces, attachments = [], []
    for position, block in enumerate(result.get("content") or []):
        here = f"{where}.toolResult.content[{position}]"
        if isinstance(block, dict) and "text" in block:
            pieces.append(str(block["text"]))
        elif isinstance(block, dict) and "json" in block:
            pieces.append(json.dumps(block["json"]))
        elif isinstance(block, dict) and len(block) == 1 and ("image" in block or "document" in block):
            part = _part(block, here)
            assert part is not None
            attachments.append(part)
        else:
            raise _fail(f"{here}: toolResult content supports text, json, image and document blocks")
    text = "\n".join(pieces)
    if attachments:
        note = f"[{len(attachments)} attachment(s) returned by the tool follow in the next message]"
        text = f"{text}\n{note}" if text else note
    if result.get("status") == "error":
        text = f"Error: {text}"
    return {"role": "tool", "tool_call_id": result["toolUseId"], "content": text}, attachments


def _messages(messages: Any) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise _fail("messages must be a non-empty list")
    out: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict) or message.get("role") not in {"user", "assistant"}:
            raise _fail(f"{where}.role must be 'user' or 'assistant'")
        blocks = message.get("content")
        if not isinstance(blocks, list):
            raise _fail(f"{where}.content must be a list of content blocks")
        role = message["role"]
        if not blocks:
            raise _fail(
                f"The content field in the Message object at messages.{index} is empty. "
                "Add a ContentBlock object to the content field and try again."
            )
        plain, tool_calls, thinking, results, attachments = [], [], [], [], []
        for position, block in enumerate(blocks):
            here = f"{where}.content[{position}]"
            if isinstance(block, dict) and isinstance(block.get("text"), str) and not block["text"].strip():
                raise _fail(_blank(here))
            if isinstance(block, dict) and "toolUse" in block:
                use = block["toolUse"]
                if role != "assistant" or not isinstance(use, dict) or not use.get("toolUseId") or not use.get("name"):
                    raise _fail(f"{here}.toolUse needs role assistant, toolUseId and name")
                arguments = json.dumps(use.get("input", {}))
                tool_calls.append(
                    {
                        "id": use["toolUseId"],
                        "type": "function",
                        "function": {"name": use["name"], "arguments": arguments},
                    }
                )
            elif isinstance(block, dict) and "toolResult" in block:
                result = block["toolResult"]
                if role != "user" or not isinstance(result, dict) or not result.get("toolUseId"):
                    raise _fail(f"{here}.toolResult needs role user and toolUseId")
                tool_message, returned = _tool_result(result, here)
                results.append(tool_message)
                attachments.extend(returned)
            elif isinstance(block, dict) and "reasoningContent" in block:
                if role != "assistant" or not isinstance(block["reasoningContent"], dict):
                    raise _fail(f"{_dotted(here)}: reasoningContent is allowed only in assistant messages")
                reasoning = block["reasoningContent"].get("reasoningText") or {}
                thinking.append(
                    {
                        "type": "thinking",
                        "thinking": reasoning.get("text", ""),
                        "signature": reasoning.get("signature", ""),
                    }
                )
            else:
                plain.append(block)
        out.extend(results)  # tool results answer the previous assistant turn, so they come first
        parts = attachments + _parts(plain, f"{where}.content")
        if not (parts or tool_calls or thinking or results):
            raise _fail(
                f"The content field in the Message object at messages.{index} holds only cachePoint blocks. "
                "Add a ContentBlock object to the content field and try again."
            )
        if role == "assistant":
            entry: dict[str, Any] = {"role": "assistant", "content": parts or None}
            if tool_calls:
                entry["tool_calls"] = tool_calls
            if thinking:
                entry["thinking_blocks"] = thinking
            if parts or tool_calls or thinking:
                out.append(entry)
        elif parts:
            out.append({"role": "user", "content": parts})
    return out


def _tools(config: Any) -> dict[str, Any]:
    if config is None:
        return {}
    if not isinstance(config, dict) or not isinstance(config.get("tools"), list):
        raise _fail("toolConfig.tools must be a list")
    tools = []
    for index, tool in enumerate(config["tools"]):
        if isinstance(tool, dict) and "cachePoint" in tool:
            continue
        spec = tool.get("toolSpec") if isinstance(tool, dict) else None
        if not isinstance(spec, dict) or not spec.get("name"):
            raise _fail(f"toolConfig.tools[{index}].toolSpec.name is required")
        function = {"name": spec["name"], "parameters": (spec.get("inputSchema") or {}).get("json", {"type": "object"})}
        if spec.get("description"):
            function["description"] = spec["description"]
        tools.append({"type": "function", "function": function})
    body: dict[str, Any] = {"tools": tools}
    choice = config.get("toolChoice")
    if isinstance(choice, dict) and "auto" in choice:
        body["tool_choice"] = "auto"
    elif isinstance(choice, dict) and "any" in choice:
        body["tool_choice"] = "required"
    elif isinstance(choice, dict) and isinstance(choice.get("tool"), dict) and choice["tool"].get("name"):
        body["tool_choice"] = {"type": "function", "function": {"name": choice["tool"]["name"]}}
    elif choice is not None:
        raise _fail("toolConfig.toolChoice must be auto, any or tool")
    return body


def _inference(config: Any) -> dict[str, Any]:
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise _fail("inferenceConfig must be an object")
    names = {"maxTokens": "max_tokens", "temperature": "temperature", "topP": "top_p", "stopSequences": "stop"}
    unknown = set(config) - set(names)
    if unknown:
        raise _fail(f"inferenceConfig has unknown fields: {sorted(unknown)}")
    return {names[key]: value for key, value in config.items()}


def converse_to_openai(model_id: str, body: Any, *, stream: bool) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _fail("Request body must be a JSON object")
    unknown = set(body) - _FIELDS
    if unknown:
        raise _fail(f"Unknown fields in a Converse request: {sorted(unknown)}")
    if body.get("guardrailConfig"):
        raise _fail(_GUARDRAIL_REFUSAL)
    messages = _messages(body.get("messages"))
    system = _parts(body.get("system") or [], "system")
    if system:
        messages.insert(0, {"role": "system", "content": system})
    openai: dict[str, Any] = {"model": model_id, "messages": messages}
    openai.update(_inference(body.get("inferenceConfig")))
    openai.update(_tools(body.get("toolConfig")))
    openai.update(request_options(body))
    extra = body.get("additionalModelRequestFields") or {}
    if not isinstance(extra, dict):
        raise _fail("additionalModelRequestFields must be an object")
    clashing = sorted(set(extra) & _RESERVED_FIELDS)
    if clashing:
        raise _fail(
            f"additionalModelRequestFields.{clashing[0]} is set by the gateway from the Converse request "
            f"and may not be given here (reserved: {', '.join(sorted(_RESERVED_FIELDS))})"
        )
    openai.update(extra)  # e.g. top_k, thinking, guardrails
    if body.get("requestMetadata"):
        openai["metadata"] = {"requestMetadata": body["requestMetadata"]}
    if stream:
        openai["stream"] = True
        openai["stream_options"] = {"include_usage": True}
    return openai
