"""CountTokens: a Converse or InvokeModel input -> LiteLLM's /utils/token_counter body.

Converse and Nova inputs are counted as the chat messages (and tools) they translate to, Anthropic
bodies as their messages, system and tools, embeddings bodies as their text. LiteLLM counts with
the model's tokenizer where it knows one, else with its default estimate.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from gateway_core.bodies import json_object
from gateway_core.converse.request import converse_to_openai
from gateway_core.errors import InvalidRequestError
from gateway_core.invoke.formats import BodyFormat, body_format
from gateway_core.invoke.nova import nova_request

__all__ = ["token_counter_body"]


def _chat(openai: dict[str, Any]) -> dict[str, Any]:
    out = {"model": openai["model"], "messages": openai["messages"]}
    if openai.get("tools"):
        out["tools"] = openai["tools"]
    return out


def _invoke_body(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, str):
        raise InvalidRequestError("input.invokeModel.body must be the model request body, base64-encoded")
    try:
        return json_object(base64.b64decode(raw, validate=True))
    except binascii.Error as exc:
        raise InvalidRequestError("input.invokeModel.body is not valid base64") from exc


def token_counter_body(model_id: str, body: dict[str, Any]) -> dict[str, Any]:
    source = body.get("input")
    if not isinstance(source, dict) or len(source) != 1 or next(iter(source)) not in {"converse", "invokeModel"}:
        raise InvalidRequestError("input must hold exactly one of converse or invokeModel")
    if "converse" in source:
        converse = source["converse"]
        if not isinstance(converse, dict):
            raise InvalidRequestError("input.converse must be an object")
        return _chat(converse_to_openai(model_id, converse, stream=False))
    invoke = source["invokeModel"]
    native = _invoke_body(invoke.get("body") if isinstance(invoke, dict) else None)
    kind = body_format(native)
    if kind is BodyFormat.NOVA:
        return _chat(nova_request(model_id, native, stream=False))
    if kind is BodyFormat.ANTHROPIC:
        out: dict[str, Any] = {"model": model_id, "messages": native.get("messages") or []}
        for key in ("system", "tools"):
            if native.get(key):
                out[key] = native[key]
        return out
    text = native.get("inputText") if kind is BodyFormat.TITAN_EMBED else " ".join(map(str, native.get("texts") or []))
    return {"model": model_id, "prompt": json.dumps(text) if not isinstance(text, str) else text}
