"""A managed prompt run through InvokeModel: the rendered prompt as an Anthropic Messages body.

Bedrock runs a prompt ARN given as InvokeModel's ``modelId`` with the body
``{"promptVariables": {...}}`` and answers in the native format of the prompt's model. This
gateway gives every model the Anthropic Messages format on InvokeModel, so the prompt, rendered by
``gateway_core.prompts`` (same ARN rules, regions and cache as Converse), becomes the Anthropic
body a client would have sent, and goes to LiteLLM's /v1/messages like one.

Prompt templates hold Converse content (``text`` and ``cachePoint`` blocks, Converse tools), so
this translates Converse to Anthropic: a ``cachePoint`` marks the block before it with
``cache_control``; the variant's inference configuration becomes ``max_tokens``, ``temperature``,
``top_p`` and ``stop_sequences``; its extra model fields are added as they are (they are the
model's own fields, e.g. ``top_k``) without overriding those.
"""

from __future__ import annotations

from typing import Any

from gateway_core.errors import InvalidRequestError
from gateway_core.invoke.formats import ANTHROPIC_VERSION
from gateway_core.prompts import RenderedPrompt

__all__ = ["DEFAULT_MAX_TOKENS", "prompt_body", "prompt_variables"]

# Anthropic's body requires max_tokens; a prompt whose variant sets no maxTokens gets this.
DEFAULT_MAX_TOKENS = 4096
_INFERENCE = {
    "maxTokens": "max_tokens",
    "temperature": "temperature",
    "topP": "top_p",
    "stopSequences": "stop_sequences",
}
_CACHE = {"type": "ephemeral"}


def prompt_variables(body: dict[str, Any]) -> Any:
    """The body's promptVariables; any other field is refused, as there is no body to merge it into."""
    others = sorted(key for key in body if key != "promptVariables")
    if others:
        raise InvalidRequestError(
            f"With a prompt ARN as modelId, the InvokeModel body takes only promptVariables (got: {', '.join(others)})"
        )
    return body.get("promptVariables")


def _blocks(blocks: list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for block in blocks:
        if isinstance(block.get("text"), str):
            out.append({"type": "text", "text": block["text"]})
        elif "cachePoint" in block and out:
            out[-1]["cache_control"] = dict(_CACHE)
        elif "cachePoint" not in block:
            raise InvalidRequestError(f"The prompt's {where} has a block InvokeModel cannot send: {sorted(block)}")
    return out


def _tools(config: dict[str, Any]) -> dict[str, Any]:
    tools: list[dict[str, Any]] = []
    for tool in config.get("tools") or []:
        spec = tool.get("toolSpec")
        if isinstance(spec, dict):
            described = {"description": spec["description"]} if spec.get("description") else {}
            schema = (spec.get("inputSchema") or {}).get("json") or {"type": "object"}
            tools.append({"name": spec.get("name"), **described, "input_schema": schema})
        elif "cachePoint" in tool and tools:
            tools[-1]["cache_control"] = dict(_CACHE)
    out: dict[str, Any] = {"tools": tools} if tools else {}
    choice = config.get("toolChoice") or {}
    if "auto" in choice:
        out["tool_choice"] = {"type": "auto"}
    elif "any" in choice:
        out["tool_choice"] = {"type": "any"}
    elif "tool" in choice:
        out["tool_choice"] = {"type": "tool", "name": choice["tool"].get("name")}
    return out


def prompt_body(prompt: RenderedPrompt) -> dict[str, Any]:
    """The Anthropic Messages body (Bedrock's envelope) that runs ``prompt``."""
    body: dict[str, Any] = {
        **prompt.additional,
        "anthropic_version": ANTHROPIC_VERSION,
        "max_tokens": DEFAULT_MAX_TOKENS,
        "messages": [
            {"role": message["role"], "content": _blocks(message["content"], "messages")} for message in prompt.messages
        ],
    }
    if prompt.system:
        body["system"] = _blocks(prompt.system, "system")
    if prompt.tool_config:
        body.update(_tools(prompt.tool_config))
    body.update({_INFERENCE[key]: value for key, value in prompt.inference.items()})
    return body
