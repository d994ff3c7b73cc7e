"""Bedrock managed prompts (Prompt management) as a model id, on both interfaces.

``arn:aws:bedrock:<region>:<account>:prompt/<id>[:<version>]`` is resolved with bedrock-agent
``GetPrompt`` in the ARN's region (``AWS_ENDPOINT_URL_BEDROCK_AGENT`` points it elsewhere, as
the local stack does), which must be one of ``GATEWAY_PROMPT_REGIONS`` (default: the function's
own region), so a caller cannot make us build clients for arbitrary regions. TEXT and CHAT
templates are rendered with ``promptVariables`` (``{{name}}`` and ``{{ name }}`` alike); a
missing or unknown variable is a 400 naming it. The variant's model id, inference
configuration, tools and extra model fields apply; values in the request win. Versioned
prompts are immutable and cached for the life of the warm function; the DRAFT (no version)
for ``GATEWAY_PROMPT_DRAFT_TTL_S``.
"""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool

from gateway_core import tracing
from gateway_core.converse.request import converse_to_openai
from gateway_core.errors import (
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    ServiceUnavailableError,
)
from gateway_core.settings import get_settings

__all__ = ["PromptRef", "RenderedPrompt", "apply_to_converse", "apply_to_openai", "is_prompt_arn", "render_prompt"]

_ARN = re.compile(
    r"^arn:aws(?:-[a-z]+)*:bedrock:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):prompt/(?P<id>[0-9a-zA-Z]{10})"
    r"(?::(?P<version>[0-9]{1,5}|DRAFT))?$"
)
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][\w-]*)\s*\}\}")
_INFERENCE = {"temperature": "temperature", "topP": "topP", "maxTokens": "maxTokens", "stopSequences": "stopSequences"}
_CACHE_LIMIT = 256

_cache: dict[tuple[str, str, str | None], tuple[float, dict[str, Any]]] = {}
_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()
_clock = time.monotonic  # the cache's clock (tests move it)


def is_prompt_arn(model: Any) -> bool:
    return isinstance(model, str) and model.startswith("arn:") and ":prompt/" in model


@dataclass(frozen=True)
class PromptRef:
    arn: str
    region: str
    prompt_id: str
    version: str | None  # None: the working draft

    @classmethod
    def parse(cls, arn: str) -> PromptRef:
        match = _ARN.match(arn)
        if match is None:
            raise InvalidRequestError(
                f"'{arn}' is not a prompt ARN (arn:aws:bedrock:<region>:<account>:prompt/<id>[:<version>])",
                param="model",
            )
        version = match["version"] if match["version"] not in {None, "DRAFT"} else None
        return cls(arn, match["region"], match["id"], version)

    @property
    def identifier(self) -> str:
        return self.arn.rsplit(":", 1)[0] if self.version else self.arn.removesuffix(":DRAFT")


@dataclass(frozen=True)
class RenderedPrompt:
    model_id: str
    messages: list[dict[str, Any]]
    system: list[dict[str, Any]] = field(default_factory=list)
    tool_config: dict[str, Any] | None = None
    inference: dict[str, Any] = field(default_factory=dict)
    additional: dict[str, Any] = field(default_factory=dict)


def _client(region: str) -> Any:
    with _clients_lock:
        if region not in _clients:
            import boto3  # lazy: only prompt requests pay for it
            from botocore.config import Config

            tracing.trace_aws_calls()
            config = Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"})
            _clients[region] = boto3.client("bedrock-agent", region_name=region, config=config)
        return _clients[region]


def _fetch(ref: PromptRef) -> dict[str, Any]:
    from botocore.exceptions import BotoCoreError, ClientError

    kwargs = {"promptIdentifier": ref.identifier}
    if ref.version:
        kwargs["promptVersion"] = ref.version
    try:
        prompt: dict[str, Any] = _client(ref.region).get_prompt(**kwargs)
    except ClientError as exc:
        # botocore's parsers always fill Error.Code and Error.Message; a ClientError made by hand
        # (a plugin, a stub) may carry neither, and still gets a clean answer.
        error = exc.response.get("Error") or {}
        code = error.get("Code") or type(exc).__name__
        reason = f": {error['Message']}" if error.get("Message") else ""
        if code == "ResourceNotFoundException":
            raise NotFoundError(f"Prompt {ref.arn} not found", param="model") from exc
        if code == "AccessDeniedException":
            raise PermissionDeniedError(f"The gateway may not read prompt {ref.arn}{reason}") from exc
        if code == "ValidationException":
            raise InvalidRequestError(f"Prompt {ref.arn}{reason}", param="model") from exc
        raise ServiceUnavailableError(f"Prompt management is unavailable ({code})") from exc
    except BotoCoreError as exc:
        raise ServiceUnavailableError(f"Prompt management is unavailable ({type(exc).__name__})") from exc
    prompt.pop("ResponseMetadata", None)
    return prompt


async def _get_prompt(ref: PromptRef) -> dict[str, Any]:
    key = (ref.region, ref.prompt_id, ref.version)  # version None: the draft
    now = _clock()
    cached = _cache.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    prompt = await run_in_threadpool(_fetch, ref)
    if len(_cache) >= _CACHE_LIMIT:
        _cache.clear()
    _cache[key] = (math.inf if ref.version else now + get_settings().prompt_draft_ttl_s, prompt)
    return prompt


def _variables(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidRequestError("promptVariables must be an object of {name: {text: value}}", param="promptVariables")
    values = {}
    for name, value in raw.items():
        if not isinstance(value, dict) or not isinstance(value.get("text"), str):
            raise InvalidRequestError(f'promptVariables.{name} must be {{"text": "..."}}', param="promptVariables")
        values[name] = value["text"]
    return values


def _texts(template: dict[str, Any]) -> list[str]:
    if "text" in template:  # GetPrompt's text template always has its text (a required member)
        return [template["text"]["text"]]
    chat = template.get("chat") or {}
    blocks = [b for m in chat.get("messages") or [] for b in m.get("content") or []] + list(chat.get("system") or [])
    return [b["text"] for b in blocks if isinstance(b.get("text"), str)]


def _check_variables(template: dict[str, Any], values: dict[str, str], arn: str) -> None:
    config = template.get("text") or template.get("chat") or {}
    declared = {v["name"] for v in config.get("inputVariables") or [] if v.get("name")}
    used = {name for text in _texts(template) for name in _PLACEHOLDER.findall(text)}
    expected = declared | used
    missing, unknown = sorted(used - set(values)), sorted(set(values) - expected)
    if missing or unknown:
        problems = [f"missing: {', '.join(missing)}"] if missing else []
        problems += [f"unknown: {', '.join(unknown)}"] if unknown else []
        raise InvalidRequestError(
            f"Prompt variables do not match prompt {arn} ({'; '.join(problems)}). "
            f"The prompt expects: {', '.join(sorted(expected)) or 'no variables'}.",
            param="promptVariables",
        )


def _substitute(blocks: list[dict[str, Any]], values: dict[str, str]) -> list[dict[str, Any]]:
    def render(text: str) -> str:
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)

    return [{**b, "text": render(b["text"])} if isinstance(b.get("text"), str) else dict(b) for b in blocks]


def _check_region(ref: PromptRef) -> None:
    """Only the allowed regions get a client (so clients stay few), and only after this check."""
    allowed = get_settings().prompt_regions
    if ref.region not in allowed:
        raise PermissionDeniedError(
            f"Prompts in region {ref.region} are not served by this gateway "
            f"(allowed: {', '.join(sorted(allowed)) or 'none'}; GATEWAY_PROMPT_REGIONS)",
            param="model",
        )


async def render_prompt(arn: str, raw_variables: Any) -> RenderedPrompt:
    """Call it only for a caller whose key is known valid: it may call bedrock-agent."""
    ref = PromptRef.parse(arn)
    _check_region(ref)
    values = _variables(raw_variables)
    prompt = await _get_prompt(ref)
    variants = prompt.get("variants") or []
    variant = next(
        (v for v in variants if v.get("name") == prompt.get("defaultVariant")), variants[0] if variants else None
    )
    if variant is None:
        raise InvalidRequestError(f"Prompt {arn} has no variant", param="model")
    if not variant.get("modelId"):
        raise InvalidRequestError(f"Prompt {arn} names no model (set the variant's modelId)", param="model")
    template = variant.get("templateConfiguration") or {}
    _check_variables(template, values, arn)
    if "text" in template:
        text = template["text"]
        content = _substitute([{"text": text["text"]}], values)
        if text.get("cachePoint"):
            content.append({"cachePoint": text["cachePoint"]})
        messages, system, tools = [{"role": "user", "content": content}], [], None
    elif "chat" in template:
        chat = template["chat"]
        messages = [
            {"role": m["role"], "content": _substitute(m.get("content") or [], values)}
            for m in chat.get("messages") or []
        ]
        system, tools = _substitute(chat.get("system") or [], values), chat.get("toolConfiguration")
    else:
        raise InvalidRequestError(
            f"Prompt {arn} has an unsupported template type {variant.get('templateType')}", param="model"
        )
    inference = (variant.get("inferenceConfiguration") or {}).get("text") or {}
    return RenderedPrompt(
        model_id=str(variant["modelId"]),
        messages=messages,
        system=system,
        tool_config=tools,
        inference={_INFERENCE[k]: v for k, v in inference.items() if k in _INFERENCE},
        additional=dict(variant.get("additionalModelRequestFields") or {}),
    )


def apply_to_converse(prompt: RenderedPrompt, body: dict[str, Any]) -> dict[str, Any]:
    """A Converse body: the prompt's messages, then the request's; request fields win."""
    merged = {k: v for k, v in body.items() if k != "promptVariables"}
    merged["messages"] = prompt.messages + list(body.get("messages") or [])
    if prompt.system and not body.get("system"):
        merged["system"] = prompt.system
    if prompt.tool_config and not body.get("toolConfig"):
        merged["toolConfig"] = prompt.tool_config
    # Without the prompt's own settings, the request's (if any) are already in ``merged``.
    if prompt.inference:
        merged["inferenceConfig"] = {**prompt.inference, **(body.get("inferenceConfig") or {})}
    if prompt.additional:
        merged["additionalModelRequestFields"] = {
            **prompt.additional,
            **(body.get("additionalModelRequestFields") or {}),
        }
    return merged


def apply_to_openai(prompt: RenderedPrompt, body: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI body: the rendered prompt's messages, then the request's; request fields win."""
    converse = apply_to_converse(prompt, {})
    rendered = converse_to_openai(prompt.model_id, converse, stream=False)
    requested = list(body.get("messages") or [])
    prompt_messages = rendered.pop("messages")
    if any(m.get("role") in {"system", "developer"} for m in requested if isinstance(m, dict)):
        prompt_messages = [m for m in prompt_messages if m.get("role") != "system"]
    merged = {**rendered, **body}
    merged["model"] = prompt.model_id
    merged["messages"] = prompt_messages + requested
    return merged
