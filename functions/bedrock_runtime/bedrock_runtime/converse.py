"""The two routes: parse, translate, call LiteLLM with the caller's key, translate back."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from gateway_core.converse.errors import BedrockError, from_gateway_error, from_litellm_error
from gateway_core.converse.request import converse_to_openai
from gateway_core.converse.response import openai_to_converse
from gateway_core.converse.stream import StreamTranslator, parse_sse_line
from gateway_core.errors import InvalidRequestError, UpstreamError, map_upstream_errors
from gateway_core.eventstream import encode_exception
from gateway_core.forwarding import open_upstream, read_upstream, upstream_request

EVENT_STREAM = "application/vnd.amazon.eventstream"


async def _openai_body(request: Request, model_id: str, stream: bool) -> bytes:
    try:
        body = json.loads(await request.body() or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequestError(f"Request body is not valid JSON: {exc}") from exc
    return json.dumps(converse_to_openai(model_id, body, stream=stream)).encode()


async def _error_from(response: httpx.Response) -> BedrockError:
    raw = await read_upstream(response)
    try:
        body: Any = json.loads(raw)
    except json.JSONDecodeError:
        body = raw.decode(errors="replace")
    return from_litellm_error(response.status_code, body)


async def converse(modelId: str, request: Request) -> Response:  # noqa: N803 (Bedrock's name)
    started = time.perf_counter()
    upstream = upstream_request(request, await _openai_body(request, modelId, stream=False), "/v1/chat/completions")
    response = await open_upstream(upstream)
    if response.status_code != 200:
        raise await _error_from(response)
    answer = json.loads(await read_upstream(response))
    latency = int((time.perf_counter() - started) * 1000)
    return JSONResponse(openai_to_converse(answer, latency), headers={"x-amzn-RequestId": str(uuid.uuid4())})


async def converse_stream(modelId: str, request: Request) -> Response:  # noqa: N803
    upstream = upstream_request(request, await _openai_body(request, modelId, stream=True), "/v1/chat/completions")
    response = await open_upstream(upstream)
    if response.status_code != 200:
        raise await _error_from(response)
    return StreamingResponse(_frames(response), media_type=EVENT_STREAM, headers={"x-amzn-RequestId": str(uuid.uuid4())})


async def _frames(response: httpx.Response) -> AsyncIterator[bytes]:
    translator = StreamTranslator()
    try:
        with map_upstream_errors():
            async for line in response.aiter_lines():
                chunk = parse_sse_line(line)
                if chunk is not None:
                    for frame in translator.feed(chunk):
                        yield frame
        for frame in translator.finish():
            yield frame
    except BedrockError as error:  # LiteLLM reported a failure inside the stream
        yield encode_exception(error.stream_exception_type, error.message)
    except UpstreamError as error:  # LiteLLM went away or silent mid-stream
        yield encode_exception(from_gateway_error(error).stream_exception_type, error.message)
    finally:
        await response.aclose()  # also on client disconnect: LiteLLM stops generating
