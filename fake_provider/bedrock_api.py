"""Bedrock Runtime routes: /model/{modelId}/converse and /converse-stream (real event-stream frames)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from gateway_core.eventstream import encode_event, encode_exception
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from fake_provider.knobs import KnobError, Knobs
from fake_provider.planning import Answer, Prompt, ToolSpec, plan_answer

router = APIRouter()

ERROR_TYPES = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    503: "ServiceUnavailableException",
}
_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "stop_sequence": "stop_sequence"}


def bedrock_error(status: int, message: str) -> JSONResponse:
    kind = ERROR_TYPES.get(status, "InternalServerException")
    return JSONResponse({"message": message}, status, headers={"x-amzn-ErrorType": kind})


def _texts(blocks: list[Any]) -> list[str]:
    out = []
    for block in blocks:
        if isinstance(block, dict) and isinstance(block.get("text"), str):
            out.append(block["text"])
        elif isinstance(block, dict) and "toolResult" in block:
            out.extend(_texts(block["toolResult"].get("content", [])))
    return out


def to_prompt(body: dict[str, Any]) -> Prompt:
    messages = body.get("messages") or []
    texts = _texts(body.get("system") or [])
    for message in messages:
        texts.extend(_texts(message.get("content") or []))
    last_blocks = (messages[-1].get("content") or []) if messages else []
    results = [b["toolResult"] for b in last_blocks if isinstance(b, dict) and "toolResult" in b]
    tool_config = body.get("toolConfig") or {}
    tools = [
        ToolSpec(t["toolSpec"]["name"], t["toolSpec"].get("inputSchema", {}).get("json", {}))
        for t in tool_config.get("tools", [])
        if "toolSpec" in t
    ]
    choice = tool_config.get("toolChoice") or {}
    inference = body.get("inferenceConfig") or {}
    return Prompt(
        texts=texts,
        tools=tools,
        forced_tool=(choice.get("tool") or {}).get("name"),
        last_tool_result=" ".join(_texts(results[0].get("content", []))) if results else None,
        max_tokens=inference.get("maxTokens"),
        stop=list(inference.get("stopSequences") or []),
        raw=body,
    )


async def _prelude(request: Request) -> tuple[Knobs, dict[str, Any]] | Response:
    try:
        knobs = Knobs.resolve(request.headers)
        body = json.loads(await request.body() or b"{}")
    except (KnobError, json.JSONDecodeError) as exc:
        return bedrock_error(400, str(exc))
    if not isinstance(body, dict) or not body.get("messages"):
        return bedrock_error(400, "messages is required")
    await asyncio.sleep(knobs.latency_ms / 1000)
    status = knobs.failing_status()
    if status:
        return bedrock_error(status, f"fake provider error {status}")
    return knobs, body


def _usage(answer: Answer) -> dict[str, int]:
    return {
        "inputTokens": answer.prompt_tokens,
        "outputTokens": answer.completion_tokens,
        "totalTokens": answer.prompt_tokens + answer.completion_tokens,
    }


@router.post("/model/{model_id:path}/converse")
async def converse(model_id: str, request: Request) -> Response:
    started = time.perf_counter()
    prelude = await _prelude(request)
    if isinstance(prelude, Response):
        return prelude
    knobs, body = prelude
    answer = plan_answer(to_prompt(body), knobs)
    content: list[dict[str, Any]] = [{"text": answer.text}] if answer.text or not answer.tool_name else []
    if answer.tool_name:
        content.append(
            {"toolUse": {"toolUseId": answer.tool_call_id, "name": answer.tool_name, "input": answer.tool_arguments}}
        )
    return JSONResponse(
        {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": _STOP[answer.finish],
            "usage": _usage(answer),
            "metrics": {"latencyMs": int((time.perf_counter() - started) * 1000)},
        }
    )


@router.post("/model/{model_id:path}/converse-stream")
async def converse_stream(model_id: str, request: Request) -> Response:
    prelude = await _prelude(request)
    if isinstance(prelude, Response):
        return prelude
    knobs, body = prelude
    answer = plan_answer(to_prompt(body), knobs)
    return StreamingResponse(_frames(answer, knobs), media_type="application/vnd.amazon.eventstream")


async def _frames(answer: Answer, knobs: Knobs) -> AsyncIterator[bytes]:
    started = time.perf_counter()
    await asyncio.sleep(knobs.ttft_ms / 1000)
    yield encode_event("messageStart", {"role": "assistant"})
    if answer.tool_name:
        start = {"toolUse": {"toolUseId": answer.tool_call_id, "name": answer.tool_name}}
        yield encode_event("contentBlockStart", {"contentBlockIndex": 0, "start": start})
        deltas = [{"toolUse": {"input": json.dumps(answer.tool_arguments)}}]
    else:
        deltas = [{"text": piece} for piece in answer.pieces]
    for sent, delta in enumerate(deltas):
        if sent == knobs.fail_after_chunks:
            yield encode_exception("modelStreamErrorException", "fake provider stream failure")
            return
        if sent:
            await asyncio.sleep(knobs.chunk_delay_ms / 1000)
        yield encode_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": delta})
    yield encode_event("contentBlockStop", {"contentBlockIndex": 0})
    yield encode_event("messageStop", {"stopReason": _STOP[answer.finish]})
    latency = int((time.perf_counter() - started) * 1000)
    yield encode_event("metadata", {"usage": _usage(answer), "metrics": {"latencyMs": latency}})
