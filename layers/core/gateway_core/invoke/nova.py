"""Amazon Nova ``messages-v1`` bodies: Converse's messages with Nova's own inferenceConfig names.

The messages, system and toolConfig are Converse's, so the Converse translation serves them;
only inferenceConfig is renamed here. Answers are Converse's, without ``metrics``; the stream is
ConverseStream's events, each wrapped in a ``chunk`` frame as ``{"<event>": {...}}``.
"""

from __future__ import annotations

import time
from typing import Any

from gateway_core.converse.request import converse_to_openai
from gateway_core.converse.response import openai_to_converse
from gateway_core.errors import InvalidRequestError
from gateway_core.invoke.anthropic import METRICS, chunk_frame

__all__ = ["NovaEvents", "nova_request", "nova_response"]

# Nova's documented names first; the Converse spellings are accepted too.
_INFERENCE = {
    "max_new_tokens": "maxTokens",
    "maxTokens": "maxTokens",
    "temperature": "temperature",
    "top_p": "topP",
    "topP": "topP",
    "stopSequences": "stopSequences",
}
_TOP_LEVEL = {"schemaVersion", "system", "messages", "inferenceConfig", "toolConfig"}


def nova_request(model_id: str, body: dict[str, Any], *, stream: bool) -> dict[str, Any]:
    """The OpenAI chat body for a Nova request."""
    unknown = set(body) - _TOP_LEVEL
    if unknown:
        raise InvalidRequestError(f"Unsupported fields in a messages-v1 body: {sorted(unknown)}")
    converse: dict[str, Any] = {key: body[key] for key in ("system", "messages", "toolConfig") if key in body}
    config = body.get("inferenceConfig")
    if config is not None:
        if not isinstance(config, dict):
            raise InvalidRequestError("inferenceConfig must be an object")
        extra = {"top_k": config["top_k"]} if "top_k" in config else {}
        unknown = set(config) - set(_INFERENCE) - {"top_k"}
        if unknown:
            raise InvalidRequestError(f"inferenceConfig has unknown fields: {sorted(unknown)}")
        converse["inferenceConfig"] = {_INFERENCE[k]: v for k, v in config.items() if k in _INFERENCE}
        if extra:
            converse["additionalModelRequestFields"] = extra
    return converse_to_openai(model_id, converse, stream=stream)


def nova_response(answer: dict[str, Any]) -> dict[str, Any]:
    response = openai_to_converse(answer, 0)
    del response["metrics"]
    return response


class NovaEvents:
    """``emit`` for the Converse stream translator: each event as a Nova ``chunk``; the last
    (metadata) also carries the invocation metrics."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.first_byte_ms: int | None = None

    def __call__(self, event_type: str, body: dict[str, Any]) -> bytes:
        elapsed = int((time.perf_counter() - self.started) * 1000)
        if self.first_byte_ms is None:
            self.first_byte_ms = elapsed
        event: dict[str, Any] = {event_type: body}
        if event_type == "metadata":
            usage = body.get("usage") or {}
            body.pop("metrics", None)
            event[METRICS] = {
                "inputTokenCount": int(usage.get("inputTokens") or 0),
                "outputTokenCount": int(usage.get("outputTokens") or 0),
                "invocationLatency": elapsed,
                "firstByteLatency": self.first_byte_ms,
            }
        return chunk_frame(event)
