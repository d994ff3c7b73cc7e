"""InvokeModel and InvokeModelWithResponseStream: model-native bodies for any model LiteLLM serves.

The body's format (``gateway_core.invoke.formats``) decides where it goes: Anthropic Messages to
LiteLLM's /v1/messages as they are, Nova messages-v1 through the Converse translation to
/v1/chat/completions, Titan and Cohere embeddings to /v1/embeddings. The caller's key travels
with each, so LiteLLM applies its budgets, limits and model access as on Converse. A prompt ARN as
``modelId`` runs as the Anthropic body its rendered prompt makes (``gateway_core.invoke.prompt``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from gateway_core.bodies import json_object
from gateway_core.converse.errors import BedrockError
from gateway_core.converse.stream import StreamTranslator, parse_sse_line
from gateway_core.errors import InvalidRequestError, UpstreamError
from gateway_core.forwarding import read_upstream
from gateway_core.http import Upstream
from gateway_core.identity import bearer_token, identify
from gateway_core.invoke.anthropic import AnthropicStream, anthropic_request, anthropic_response, openai_usage
from gateway_core.invoke.count_tokens import token_counter_body
from gateway_core.invoke.embeddings import cohere_request, cohere_response, titan_request, titan_response
from gateway_core.invoke.formats import BodyFormat, body_format
from gateway_core.invoke.nova import NovaEvents, nova_request, nova_response
from gateway_core.invoke.prompt import prompt_body, prompt_variables
from gateway_core.prompts import is_prompt_arn, render_prompt
from gateway_core.request_record import note_model, note_usage
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from bedrock_runtime.converse import EVENT_STREAM, exception_frame, open_litellm, stream_frames

_BETA = "anthropic-beta"


async def _read(request: Request) -> tuple[str, dict[str, Any], BodyFormat]:
    model_id = request.path_params["modelId"]
    if "x-amzn-bedrock-guardrailidentifier" in request.headers:
        raise InvalidRequestError(
            "Guardrails on InvokeModel are not applied by this gateway, so the request was refused rather than "
            "run unguarded: use Converse with guardrailConfig"
        )
    if is_prompt_arn(model_id):
        bearer_token(request)  # no key, no work
        variables = prompt_variables(json_object(await request.body(), empty={}))
        await identify(request)  # a prompt will be fetched: the key must be valid first
        prompt = await render_prompt(model_id, variables)
        note_model(prompt.model_id)
        return prompt.model_id, prompt_body(prompt), BodyFormat.ANTHROPIC
    body = json_object(await request.body())
    kind = body_format(body)
    note_model(model_id)
    return model_id, body, kind


def _answer(body: dict[str, Any], started: float, input_tokens: int, output_tokens: int | None) -> Response:
    """InvokeModel's answer: the model's JSON plus Bedrock's token-count and latency headers."""
    headers = {
        "x-amzn-RequestId": str(uuid.uuid4()),
        "X-Amzn-Bedrock-Invocation-Latency": str(int((time.perf_counter() - started) * 1000)),
        "X-Amzn-Bedrock-Input-Token-Count": str(input_tokens),
    }
    if output_tokens is not None:
        headers["X-Amzn-Bedrock-Output-Token-Count"] = str(output_tokens)
    return Response(json.dumps(body), media_type="application/json", headers=headers)


async def _json(request: Request, body: dict[str, Any], path: str, headers: list[tuple[str, str]]) -> dict[str, Any]:
    answer = json.loads(await read_upstream(await open_litellm(request, body, path, headers)))
    if not isinstance(answer, dict):
        raise BedrockError(500, "InternalServerException", "The model's answer was not a JSON object")
    return answer


async def invoke(request: Request) -> Response:
    started = time.perf_counter()
    model_id, body, kind = await _read(request)
    if kind is BodyFormat.ANTHROPIC:
        payload, betas = anthropic_request(model_id, body, stream=False)
        answer = await _json(request, payload, "/v1/messages", [(_BETA, ",".join(betas))] if betas else [])
        usage = openai_usage(answer.get("usage"))
        note_usage(usage)
        return _answer(anthropic_response(answer), started, usage["prompt_tokens"], usage["completion_tokens"])
    if kind is BodyFormat.NOVA:
        answer = await _json(request, nova_request(model_id, body, stream=False), "/v1/chat/completions", [])
        note_usage(answer.get("usage"))
        nova = nova_response(answer)
        return _answer(nova, started, nova["usage"]["inputTokens"], nova["usage"]["outputTokens"])
    if kind is BodyFormat.TITAN_EMBED:
        answer = await _json(request, titan_request(model_id, body), "/v1/embeddings", [])
        note_usage(answer.get("usage"))
        titan = titan_response(body, answer)
        return _answer(titan, started, titan["inputTextTokenCount"], None)
    answer = await _json(request, cohere_request(model_id, body), "/v1/embeddings", [])
    note_usage(answer.get("usage"))
    tokens = int((answer.get("usage") or {}).get("prompt_tokens") or 0)
    return _answer(cohere_response(body, answer), started, tokens, None)


async def invoke_stream(request: Request) -> Response:
    model_id, body, kind = await _read(request)
    if not kind.streams:
        raise InvalidRequestError("The model is unsupported for streaming: embeddings bodies take InvokeModel")
    headers = {"x-amzn-RequestId": str(uuid.uuid4()), "X-Amzn-Bedrock-Content-Type": "application/json"}
    if kind is BodyFormat.ANTHROPIC:
        payload, betas = anthropic_request(model_id, body, stream=True)
        response = await open_litellm(request, payload, "/v1/messages", [(_BETA, ",".join(betas))] if betas else [])
        frames = _anthropic_frames(response)
    else:
        response = await open_litellm(request, nova_request(model_id, body, stream=True), "/v1/chat/completions")
        frames = stream_frames(response, StreamTranslator(emit=NovaEvents()))
    return StreamingResponse(frames, media_type=EVENT_STREAM, headers=headers)


async def _anthropic_frames(response: Upstream) -> AsyncIterator[bytes]:
    stream = AnthropicStream()
    try:
        async for line in response.aiter_lines():
            event = parse_sse_line(line)
            if event is not None:
                frame = stream.feed(event)
                if frame is not None:
                    yield frame
        note_usage(openai_usage(stream.usage))
    except (BedrockError, UpstreamError) as error:
        yield exception_frame(error)
    finally:
        await response.aclose()


async def count_tokens(request: Request) -> Response:
    model_id = request.path_params["modelId"]
    counted = token_counter_body(model_id, json_object(await request.body()))
    note_model(model_id)
    answer = await _json(request, counted, "/utils/token_counter", [])
    return JSONResponse(
        {"inputTokens": int(answer.get("total_tokens") or 0)}, headers={"x-amzn-RequestId": str(uuid.uuid4())}
    )
