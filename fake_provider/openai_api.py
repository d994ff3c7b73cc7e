"""OpenAI-compatible routes: chat completions (JSON and SSE), embeddings, models."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from fake_provider.knobs import KnobError, Knobs
from fake_provider.planning import Answer, Prompt, ToolSpec, plan_answer

router = APIRouter()
MODELS = ("fake-gpt", "fake-embedding")
_FINISH = {"stop_sequence": "stop"}


class StreamBroken(Exception):
    """Raised inside a stream to cut the connection (fail_after_chunks)."""


def error(status: int, message: str) -> JSONResponse:
    kind = "invalid_request_error" if status < 500 else "api_error"
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": str(status)}}, status)


async def _prelude(request: Request) -> tuple[Knobs, dict[str, Any]] | Response:
    try:
        knobs = Knobs.resolve(request.headers)
    except KnobError as exc:
        return error(400, str(exc))
    try:
        body = json.loads(await request.body() or b"{}")
    except json.JSONDecodeError:
        return error(400, "body is not JSON")
    if not isinstance(body, dict):
        return error(400, "body must be a JSON object")
    await asyncio.sleep(knobs.latency_ms / 1000)
    status = knobs.failing_status()
    if status:
        return error(status, f"fake provider error {status}")
    return knobs, body


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def to_prompt(body: dict[str, Any]) -> Prompt:
    messages = body.get("messages") or []
    tools = [
        ToolSpec(t["function"]["name"], t["function"].get("parameters") or {})
        for t in body.get("tools") or []
        if isinstance(t, dict) and "function" in t
    ]
    choice = body.get("tool_choice")
    stop = body.get("stop") or []
    last = messages[-1] if messages else {}
    response_format = body.get("response_format") or {}
    schema = (response_format.get("json_schema") or {}).get("schema") if isinstance(response_format, dict) else None
    return Prompt(
        texts=[_text(m.get("content")) for m in messages if isinstance(m, dict)],
        tools=tools,
        forced_tool=choice["function"]["name"] if isinstance(choice, dict) and "function" in choice else None,
        tools_disabled=choice == "none",
        last_tool_result=_text(last.get("content")) if last.get("role") == "tool" else None,
        max_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
        stop=[stop] if isinstance(stop, str) else list(stop),
        raw=body,
        response_schema=schema if isinstance(schema, dict) else None,
    )


def _usage(answer: Answer) -> dict[str, int]:
    prompt, completion = answer.prompt_tokens, answer.completion_tokens
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _tool_call(answer: Answer, arguments: str) -> dict[str, Any]:
    return {
        "id": answer.tool_call_id,
        "type": "function",
        "function": {"name": answer.tool_name, "arguments": arguments},
    }


# The headers LiteLLM 1.108.7 adds to a chat completion, in its order (values of that shape): where
# the fake stands in for LiteLLM (bench section 1c), a relay has as many headers to carry back.
_LITELLM_HEADERS = {
    "x-litellm-call-id": "7a6d6ca9-dc91-48d4-8af8-2418070f098a",
    "x-litellm-model-id": "031da4f01469f6542cb5435458b10d331ec55da5213aff8914c289f3960285e1",
    "x-litellm-model-name": "openai/fake-gpt",
    "x-litellm-model-api-base": "http://127.0.0.1:8090/v1",
    "x-litellm-version": "1.108.7",
    "x-litellm-response-cost-original": "0.0",
    "x-litellm-response-cost-discount-amount": "0.0",
    "x-litellm-response-cost-margin-amount": "0.0",
    "x-litellm-response-cost-margin-percent": "0.0",
    "x-litellm-response-cost-input": "0.0",
    "x-litellm-response-cost-output": "0.0",
    "x-litellm-response-cost-tool-usage": "0.0",
    "x-litellm-key-spend": "0.021599999999999998",
    "x-litellm-response-duration-ms": "14.943122863769531",
    "x-litellm-overhead-duration-ms": "10.9591",
    "x-litellm-callback-duration-ms": "0.0",
    "llm_provider-date": "Tue, 01 Dec 2026 11:01:43 GMT",
    "llm_provider-server": "uvicorn",
    "llm_provider-content-type": "application/json",
    "llm_provider-content-length": "344",
    "x-litellm-model-group": "fake-gpt",
    "x-litellm-attempted-retries": "0",
    "x-litellm-attempted-fallbacks": "0",
    "vary": "Origin",
    "x-frame-options": "DENY",
    "content-security-policy": "frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
}


@router.post("/v1/chat/completions")
@router.post("/chat/completions")
async def chat_completions(request: Request) -> Response:
    response = await _chat_completions(request)
    if response.status_code == 200 and Knobs.resolve(request.headers).litellm_headers:
        response.headers.update(_LITELLM_HEADERS)
    return response


async def _chat_completions(request: Request) -> Response:
    prelude = await _prelude(request)
    if isinstance(prelude, Response):
        return prelude
    knobs, body = prelude
    answer = plan_answer(to_prompt(body), knobs)
    model = str(body.get("model", "fake-gpt"))
    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return StreamingResponse(_stream(answer, model, knobs, include_usage), media_type="text/event-stream")
    message: dict[str, Any] = {"role": "assistant", "content": answer.text if answer.tool_name is None else None}
    if answer.tool_name:
        message["tool_calls"] = [_tool_call(answer, json.dumps(answer.tool_arguments))]
    return JSONResponse(
        {
            "id": "chatcmpl-" + uuid.uuid4().hex,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": _FINISH.get(answer.finish, answer.finish)}],
            "usage": _usage(answer),
        }
    )


async def _stream(answer: Answer, model: str, knobs: Knobs, include_usage: bool) -> AsyncIterator[bytes]:
    base = {"id": "chatcmpl-" + uuid.uuid4().hex, "object": "chat.completion.chunk", "created": int(time.time())}

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return b"data: " + json.dumps({**base, "model": model, "choices": [choice], **extra}).encode() + b"\n\n"

    await asyncio.sleep(knobs.ttft_ms / 1000)
    yield chunk({"role": "assistant", "content": ""})
    if answer.tool_name:
        arguments = json.dumps(answer.tool_arguments)
        pieces = [arguments[i : i + 8] for i in range(0, len(arguments), 8)]
        yield chunk({"tool_calls": [{"index": 0, **_tool_call(answer, "")}]})
        deltas = [{"tool_calls": [{"index": 0, "function": {"arguments": p}}]} for p in pieces]
    else:
        deltas = [{"content": piece} for piece in answer.pieces]
    for sent, delta in enumerate(deltas):
        if sent == knobs.fail_after_chunks:
            raise StreamBroken("fail_after_chunks")
        if sent:
            await asyncio.sleep(knobs.chunk_delay_ms / 1000)
        yield chunk(delta)
    yield chunk({}, _FINISH.get(answer.finish, answer.finish))
    if include_usage:
        yield (
            b"data: " + json.dumps({**base, "model": model, "choices": [], "usage": _usage(answer)}).encode() + b"\n\n"
        )
    yield b"data: [DONE]\n\n"


@router.post("/v1/embeddings")
@router.post("/embeddings")
async def embeddings(request: Request) -> Response:
    prelude = await _prelude(request)
    if isinstance(prelude, Response):
        return prelude
    _, body = prelude
    inputs = body.get("input")
    items = [inputs] if isinstance(inputs, str | int) else list(inputs or [])
    if not items:
        return error(400, "input is required")
    dims = int(body.get("dimensions") or 16)
    data = []
    for index, item in enumerate(items):
        digest = hashlib.sha256(str(item).encode()).digest() * (dims // 32 + 1)
        data.append({"object": "embedding", "index": index, "embedding": [b / 255 - 0.5 for b in digest[:dims]]})
    tokens = sum(len(str(i).split()) for i in items)
    return JSONResponse(
        {
            "object": "list",
            "data": data,
            "model": body.get("model", "fake-embedding"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


@router.get("/v1/models")
@router.get("/models")
async def models() -> Response:
    return JSONResponse(
        {"object": "list", "data": [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in MODELS]}
    )
