"""Guardrails on InvokeModel: Bedrock's guardrail headers, mapped as Converse's ``guardrailConfig``.

``X-Amzn-Bedrock-GuardrailIdentifier``, ``-GuardrailVersion`` and ``-Trace`` (ENABLED, DISABLED,
ENABLED_FULL) select the LiteLLM guardrail mapped to that id/version
(``gateway_core.converse.guardrails``: one mapping for both interfaces). Bedrock reports the
outcome in the model's body: ``amazon-bedrock-guardrailAction`` (INTERVENED or NONE) and, with the
trace on, ``amazon-bedrock-trace``. A block (LiteLLM's 400 "Content blocked") is answered as
Bedrock does, with 200 and the guardrail's blocked message as the model's message; in a stream,
as the events of that message, the action and trace riding on ``message_stop``.
"""

from __future__ import annotations

import uuid
from typing import Any

from gateway_core.converse.errors import BedrockError
from gateway_core.converse.guardrails import BLOCKED_MARKER, Guardrail, blocked_answer
from gateway_core.errors import InvalidRequestError

__all__ = ["ACTION", "TRACE", "blocked_events", "blocked_message", "blocks", "guardrail_config", "outcome"]

ACTION = "amazon-bedrock-guardrailAction"
TRACE = "amazon-bedrock-trace"
_IDENTIFIER = "x-amzn-bedrock-guardrailidentifier"
_VERSION = "x-amzn-bedrock-guardrailversion"
_TRACE = "x-amzn-bedrock-trace"


def guardrail_config(headers: Any) -> dict[str, str] | None:
    """The request's guardrail headers as Converse's guardrailConfig (None: no guardrail asked for)."""
    identifier, version, trace = headers.get(_IDENTIFIER), headers.get(_VERSION), headers.get(_TRACE)
    if identifier is None:
        if version is not None:
            raise InvalidRequestError("X-Amzn-Bedrock-GuardrailVersion needs X-Amzn-Bedrock-GuardrailIdentifier")
        return None
    if not version:
        raise InvalidRequestError("X-Amzn-Bedrock-GuardrailIdentifier needs X-Amzn-Bedrock-GuardrailVersion")
    trace = trace or "DISABLED"
    if trace not in {"ENABLED", "DISABLED", "ENABLED_FULL"}:
        raise InvalidRequestError("X-Amzn-Bedrock-Trace must be ENABLED, DISABLED or ENABLED_FULL")
    return {"guardrailIdentifier": identifier, "guardrailVersion": version, "trace": trace.lower()}


def blocks(guardrail: Guardrail | None, error: BedrockError) -> bool:
    """Whether ``error`` is the requested guardrail blocking the input (Bedrock: not an error)."""
    return guardrail is not None and error.status == 400 and BLOCKED_MARKER in error.message.lower()


def outcome(guardrail: Guardrail, reason: str | None) -> dict[str, Any]:
    """The body fields Bedrock adds: the action, and the trace when asked for (``reason``: the block's)."""
    fields: dict[str, Any] = {ACTION: "INTERVENED" if reason is not None else "NONE"}
    if guardrail.trace:
        # Converse's trace shape (gateway_core.converse.guardrails): LiteLLM reports no assessment, only
        # the block's reason, so the assessment stays empty.
        trace = blocked_answer(guardrail, reason, 0).get("trace") if reason is not None else None
        fields[TRACE] = trace or {"guardrail": {"inputAssessment": {guardrail.identifier: {}}}}
    return fields


def blocked_message(guardrail: Guardrail, model: str, reason: str) -> dict[str, Any]:
    """The Anthropic message Bedrock answers when the guardrail blocks the input."""
    return {
        "id": f"msg_{uuid.uuid4().hex}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": guardrail.blocked_message}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 0, "output_tokens": 0},
        **outcome(guardrail, reason),
    }


def blocked_events(guardrail: Guardrail, model: str, reason: str) -> list[dict[str, Any]]:
    """The same message as Anthropic stream events (the outcome fields on ``message_stop``)."""
    message = blocked_message(guardrail, model, reason)
    fields = {key: message.pop(key) for key in (ACTION, TRACE) if key in message}
    return [
        {"type": "message_start", "message": {**message, "content": []}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": guardrail.blocked_message}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 0},
        },
        {"type": "message_stop", **fields},
    ]
