"""Anthropic Messages bodies, as Bedrock's Claude models take them, through LiteLLM's /v1/messages.

LiteLLM serves /v1/messages for every provider (natively for Anthropic and Bedrock Claude, by
translation for the others), so the body goes as it is: only Bedrock's envelope changes.
Bedrock's ``anthropic_version`` goes, the model comes from the path, ``anthropic_beta`` becomes
the ``anthropic-beta`` header. The stream comes back as Bedrock sends it: each Anthropic event's
JSON, base64-encoded, in a ``chunk`` frame; the last one carries
``amazon-bedrock-invocationMetrics``.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from gateway_core.converse.errors import from_litellm_error
from gateway_core.errors import InvalidRequestError
from gateway_core.eventstream import encode_event

__all__ = ["AnthropicStream", "anthropic_request", "anthropic_response", "chunk_frame", "openai_usage"]

METRICS = "amazon-bedrock-invocationMetrics"
# Converse's history switches (additionalModelRequestFields). Bedrock refuses keys Anthropic's
# body does not have, so these are refused too, naming where history is served, rather than
# passed to a provider that ignores them and answers without the conversation.
_HISTORY_FIELDS = ("enable_history", "session_id", "additionalModelRequestFields")


def anthropic_request(model_id: str, body: dict[str, Any], *, stream: bool) -> tuple[dict[str, Any], list[str]]:
    """The /v1/messages body and the anthropic-beta values to send as a header."""
    out = {key: value for key, value in body.items() if key not in {"anthropic_version", "anthropic_beta"}}
    betas = body.get("anthropic_beta") or []
    if not isinstance(betas, list) or not all(isinstance(beta, str) for beta in betas):
        raise InvalidRequestError("anthropic_beta must be a list of strings")
    if "model" in out:
        raise InvalidRequestError("model is not a body field on Bedrock: it is the modelId in the path")
    for field in _HISTORY_FIELDS:
        if field in out:
            raise InvalidRequestError(
                f"{field} is not an Anthropic Messages field: chat history runs on Converse and ConverseStream "
                "(additionalModelRequestFields.enable_history and session_id)"
            )
    out["model"] = model_id
    if stream:
        out["stream"] = True
    else:
        out.pop("stream", None)
    return out, betas


def anthropic_response(answer: dict[str, Any]) -> dict[str, Any]:
    """LiteLLM's Anthropic message as Anthropic writes it (LiteLLM adds an OpenAI total_tokens)."""
    usage = answer.get("usage")
    if isinstance(usage, dict):
        usage.pop("total_tokens", None)
    return answer


def openai_usage(usage: Any) -> dict[str, int]:
    """Anthropic usage in OpenAI's names, for the request record and the token-count headers."""
    usage = usage if isinstance(usage, dict) else {}
    return {
        "prompt_tokens": int(usage.get("input_tokens") or 0),
        "completion_tokens": int(usage.get("output_tokens") or 0),
        "cache_read_input_tokens": int(usage.get("cache_read_input_tokens") or 0),
        "cache_creation_input_tokens": int(usage.get("cache_creation_input_tokens") or 0),
    }


def chunk_frame(event: dict[str, Any]) -> bytes:
    """One InvokeModelWithResponseStream ``chunk`` event carrying ``event`` as base64 JSON bytes."""
    raw = json.dumps(event, separators=(",", ":")).encode()
    return encode_event("chunk", {"bytes": base64.b64encode(raw).decode()})


class AnthropicStream:
    """LiteLLM's Anthropic SSE events -> Bedrock ``chunk`` frames, counting usage as it goes."""

    def __init__(self, stop_fields: dict[str, Any] | None = None) -> None:
        self.stop_fields = stop_fields or {}  # added to message_stop beside the metrics (guardrail outcome)
        self.started = time.perf_counter()
        self.first_byte_ms: int | None = None
        self.input_tokens = 0
        self.output_tokens = 0
        self.usage: dict[str, Any] = {}

    def feed(self, event: dict[str, Any]) -> bytes | None:
        """The frame for one event (None for pings). Raises BedrockError for an error event."""
        kind = event.get("type")
        if kind == "error" or (kind is None and "error" in event):
            error = event.get("error")
            code = error.get("code") if isinstance(error, dict) else None
            raise from_litellm_error(int(str(code)) if str(code).isdigit() else 500, event)
        if kind == "ping":
            return None
        if self.first_byte_ms is None:
            self.first_byte_ms = self._elapsed()
        if kind == "message_start":
            self.usage.update((event.get("message") or {}).get("usage") or {})
        elif kind == "message_delta":
            self.usage.update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
        elif kind == "message_stop":
            event = {**event, **self.stop_fields, METRICS: self.metrics()}
        return chunk_frame(event)

    def metrics(self) -> dict[str, int]:
        usage = openai_usage(self.usage)
        return {
            "inputTokenCount": usage["prompt_tokens"],
            "outputTokenCount": usage["completion_tokens"],
            "invocationLatency": self._elapsed(),
            "firstByteLatency": self.first_byte_ms if self.first_byte_ms is not None else self._elapsed(),
        }

    def _elapsed(self) -> int:
        return int((time.perf_counter() - self.started) * 1000)
