"""Converse's request options beyond messages and tools, each translated or refused.

outputConfig.textFormat json_schema  -> response_format {"type": "json_schema", ...}
outputConfig.effort                  -> reasoning_effort
serviceTier.type                     -> service_tier (priority, default, flex; reserved refused)
performanceConfig.latency            -> standard is the only latency there is; optimized refused
projectIdentifier                    -> "default" only (keys and teams do projects' accounting)
additionalModelResponseFieldPaths    -> JSON Pointers resolved in the model's answer as LiteLLM
                                        returns it (OpenAI-shaped), into additionalModelResponseFields
"""

from __future__ import annotations

import json
from typing import Any

from gateway_core.errors import InvalidRequestError

__all__ = ["echoed_options", "request_options", "response_fields", "response_field_paths"]

_SERVICE_TIERS = {"priority", "default", "flex"}


def _fail(message: str) -> InvalidRequestError:
    return InvalidRequestError(message)


def _output_config(config: Any) -> dict[str, Any]:
    if not isinstance(config, dict):
        raise _fail("outputConfig must be an object")
    out: dict[str, Any] = {}
    if "effort" in config:
        out["reasoning_effort"] = config["effort"]
    text_format = config.get("textFormat")
    if text_format is None:
        return out
    if not isinstance(text_format, dict) or text_format.get("type") != "json_schema":
        raise _fail("outputConfig.textFormat.type must be json_schema")
    spec = (text_format.get("structure") or {}).get("jsonSchema")
    if not isinstance(spec, dict) or not isinstance(spec.get("schema"), str):
        raise _fail("outputConfig.textFormat.structure.jsonSchema.schema must be a JSON schema as a string")
    try:
        schema = json.loads(spec["schema"])
    except json.JSONDecodeError as exc:
        raise _fail(f"outputConfig.textFormat.structure.jsonSchema.schema is not valid JSON: {exc}") from exc
    if not isinstance(schema, dict):
        raise _fail("outputConfig.textFormat.structure.jsonSchema.schema must be a JSON object")
    json_schema: dict[str, Any] = {"name": str(spec.get("name") or "response"), "schema": schema}
    if spec.get("description"):
        json_schema["description"] = spec["description"]
    out["response_format"] = {"type": "json_schema", "json_schema": json_schema}
    return out


def request_options(body: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI parameters for the Converse options present in ``body``."""
    out: dict[str, Any] = {}
    if body.get("outputConfig") is not None:
        out.update(_output_config(body["outputConfig"]))
    tier = body.get("serviceTier")
    if tier is not None:
        kind = tier.get("type") if isinstance(tier, dict) else None
        if kind not in _SERVICE_TIERS:
            raise _fail(
                f"serviceTier.type must be one of {sorted(_SERVICE_TIERS)} on this gateway "
                "(reserved capacity is Bedrock's own)"
            )
        out["service_tier"] = kind
    latency = body.get("performanceConfig")
    if latency is not None and latency != {"latency": "standard"}:
        raise _fail(
            "performanceConfig.latency 'optimized' has no equivalent on this gateway: send standard or leave it out"
        )
    project = body.get("projectIdentifier")
    if project is not None and project != "default":
        raise _fail("projectIdentifier: only 'default' is served; use API keys or teams to separate spend")
    response_field_paths(body)  # refuse bad pointers before the model runs
    return out


def response_field_paths(body: dict[str, Any]) -> list[str]:
    paths = body.get("additionalModelResponseFieldPaths")
    if paths is None:
        return []
    if not isinstance(paths, list) or len(paths) > 10:
        raise _fail("additionalModelResponseFieldPaths must be a list of at most 10 JSON Pointers")
    for path in paths:
        if not isinstance(path, str) or not path.startswith("/") or path == "/":
            raise _fail(f"additionalModelResponseFieldPaths: {path!r} is not a JSON Pointer (RFC 6901)")
    return paths


def _resolve(document: Any, pointer: str) -> tuple[bool, Any]:
    for raw in pointer[1:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(document, dict) and token in document:
            document = document[token]
        elif isinstance(document, list) and token.isdigit() and int(token) < len(document):
            document = document[int(token)]
        else:
            return False, None
    return True, document


def response_fields(paths: list[str], answer: dict[str, Any]) -> dict[str, Any] | None:
    """The requested fields of ``answer`` nested as their pointers name them; missing ones are skipped."""
    fields: dict[str, Any] = {}
    for path in paths:
        found, value = _resolve(answer, path)
        if not found:
            continue
        tokens = [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]
        node = fields
        for token in tokens[:-1]:
            node = node.setdefault(token, {})
        node[tokens[-1]] = value
    return fields or None


def echoed_options(body: dict[str, Any]) -> dict[str, Any]:
    """What a Converse answer echoes of the request: the service tier and latency it ran with."""
    out: dict[str, Any] = {}
    if body.get("serviceTier") is not None:
        out["serviceTier"] = body["serviceTier"]
    if body.get("performanceConfig") is not None:
        out["performanceConfig"] = body["performanceConfig"]
    return out
