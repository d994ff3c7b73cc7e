"""Bedrock guardrails through LiteLLM: ``guardrailConfig`` names a guardrail configured in LiteLLM.

A LiteLLM guardrail serves a Bedrock guardrail id/version when its config says so:

    guardrails:
      - guardrail_name: no-secrets
        litellm_params: {guardrail: litellm_content_filter, mode: pre_call, ...}
        guardrail_info: {bedrock_guardrail: {identifier: gr-abc123, version: "1"}}

The mapping is read from LiteLLM's /guardrails/list (cached a minute), so it lives in one place,
ecs_litellm/config.yaml. When the guardrail blocks, LiteLLM answers 400 "Content blocked: ...";
Bedrock answers 200 with stopReason guardrail_intervened, the guardrail's blocked message and,
when asked for, a trace. Either way it applies to any provider.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from gateway_core.errors import InvalidRequestError, ServiceUnavailableError
from gateway_core.http import LiteLLMClient
from gateway_core.secrets import get_master_key

__all__ = ["BLOCKED_MARKER", "Guardrail", "blocked_answer", "resolve_guardrail"]

BLOCKED_MARKER = "content blocked"
DEFAULT_BLOCKED_MESSAGE = "Sorry, the model cannot answer this question."
_CACHE_S = 60.0
_cache: tuple[float, list[dict[str, Any]]] | None = None


@dataclass(frozen=True)
class Guardrail:
    identifier: str
    version: str
    litellm_name: str
    blocked_message: str
    trace: bool


def _how_to_configure(identifier: str, version: str) -> str:
    return (
        f"Guardrail {identifier} version {version} is not configured on this gateway. Configure a LiteLLM "
        "guardrail in ecs_litellm/config.yaml (guardrails:) with guardrail_info: {bedrock_guardrail: "
        f'{{identifier: {identifier}, version: "{version}"}}}}; it then applies on every provider.'
    )


async def _configured(litellm: LiteLLMClient) -> list[dict[str, Any]]:
    global _cache
    if _cache is not None and time.monotonic() - _cache[0] < _CACHE_S:
        return _cache[1]
    status, body = await litellm.call("GET", "/guardrails/list", token=await get_master_key())
    if status != 200 or not isinstance(body, dict):
        raise ServiceUnavailableError("The guardrail configuration could not be read; try again")
    listed = [g for g in body.get("guardrails") or [] if isinstance(g, dict)]
    _cache = (time.monotonic(), listed)
    return listed


async def resolve_guardrail(litellm: LiteLLMClient, config: Any) -> Guardrail:
    if not isinstance(config, dict):
        raise InvalidRequestError("guardrailConfig must be an object")
    identifier, version = config.get("guardrailIdentifier"), config.get("guardrailVersion")
    if not isinstance(identifier, str) or not identifier or not isinstance(version, str) or not version:
        raise InvalidRequestError("guardrailConfig needs guardrailIdentifier and guardrailVersion")
    trace = config.get("trace", "disabled")
    if trace not in {"enabled", "disabled", "enabled_full"}:
        raise InvalidRequestError("guardrailConfig.trace must be enabled, disabled or enabled_full")
    for listed in await _configured(litellm):
        wanted = (listed.get("guardrail_info") or {}).get("bedrock_guardrail") or {}
        if wanted.get("identifier") == identifier and str(wanted.get("version")) == version:
            return Guardrail(
                identifier,
                version,
                str(listed["guardrail_name"]),
                str(wanted.get("blocked_message") or DEFAULT_BLOCKED_MESSAGE),
                trace != "disabled",
            )
    raise InvalidRequestError(_how_to_configure(identifier, version))


def blocked_answer(guardrail: Guardrail, reason: str, latency_ms: int) -> dict[str, Any]:
    """The Converse answer Bedrock gives when a guardrail blocks the input."""
    answer: dict[str, Any] = {
        "output": {"message": {"role": "assistant", "content": [{"text": guardrail.blocked_message}]}},
        "stopReason": "guardrail_intervened",
        "usage": {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0},
        "metrics": {"latencyMs": latency_ms},
    }
    if guardrail.trace:
        answer["trace"] = {"guardrail": {"inputAssessment": {guardrail.identifier: {}}, "actionReason": reason}}
    return answer
