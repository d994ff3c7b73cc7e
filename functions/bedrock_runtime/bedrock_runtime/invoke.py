"""InvokeModel and InvokeModelWithResponseStream: model-native bodies for any model LiteLLM serves.

The body's format (``gateway_core.invoke.formats``) decides where it goes: Anthropic Messages to
LiteLLM's /v1/messages as they are, Nova messages-v1 through the Converse translation to
/v1/chat/completions, Titan and Cohere embeddings to /v1/embeddings. The caller's key travels
with each, so LiteLLM applies its budgets, limits and model access as on Converse. A prompt ARN as
``modelId`` runs as the Anthropic body its rendered prompt makes (``gateway_core.invoke.prompt``);
guardrail headers apply to Anthropic bodies (``gateway_core.invoke.guardrail``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from gateway_core.bodies import json_object
from gateway_core.converse.errors import BedrockError
from gateway_core.converse.guardrails import Guardrail, resolve_guardrail
from gateway_core.converse.stream import StreamTranslator, parse_sse_line
from gateway_core.errors import InvalidRequestError, UpstreamError
from gateway_core.forwarding import read_upstream
from gateway_core.http import Upstream, litellm_client
from gateway_core.identity import bearer_token, identify
from gateway_core.invoke.anthropic import AnthropicStream, anthropic_request, anthropic_response, openai_usage
from gateway_core.invoke.count_tokens import token_counter_body
from gateway_core.invoke.embeddings import cohere_request, cohere_response, titan_request, titan_response
from gateway_core.invoke.formats import BodyFormat, body_format
from gateway_core.invoke.guardrail import blocked_events, blocked_message, blocks, guardrail_config, outcome
from gateway_core.invoke.nova import NovaEvents, nova_request, nova_response
from gateway_core.invoke.prompt import prompt_body, prompt_variables
from gateway_core.prompts import is_prompt_arn, render_prompt
from gateway_core.request_record import note_model, note_usage
from gateway_core.streaming import StreamingResponse
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bedrock_runtime.converse import EVENT_STREAM, exception_frame, open_litellm, stream_frames

_BETA = "anthropic-beta"


@dataclass
class _Call:
    """One InvokeModel request, read: the model, its body and format, the guardrail asked for."""

    model_id: str
    body: dict[str, Any]
    kind: BodyFormat
    guardrail: Guardrail | None = None


async def _read(request: Request) -> _Call:
    model_id = request.path_params["modelId"]
    if is_prompt_arn(model_id):
        bearer_token(request)  # no key, no work
        variables = prompt_variables(json_object(await request.body(), empty={}))
        await identify(request)  # a prompt will be fetched: the key must be valid first
        prompt = await render_prompt(model_id, variables)
        call = _Call(prompt.model_id, prompt_body(prompt), BodyFormat.ANTHROPIC)
    else:
        body = json_object(await request.body())
        call = _Call(model_id, body, body_format(body))
    config = guardrail_config(request.headers)
    if config is not None:
        if call.kind is not BodyFormat.ANTHROPIC:
            raise InvalidRequestError(
                "Guardrail headers on InvokeModel are applied to Anthropic Messages bodies and managed prompts; "
                "for this body use Converse with guardrailConfig"
            )
        call.guardrail = await resolve_guardrail(litellm_client(request), config)
    note_model(call.model_id)
    return call


def _anthropic(call: _Call, *, stream: bool) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The /v1/messages body (with the LiteLLM guardrail asked for) and its headers."""
    payload, betas = anthropic_request(call.model_id, call.body, stream=stream)
    if call.guardrail is not None:
        payload["guardrails"] = [call.guardrail.litellm_name]
    return payload, [(_BETA, ",".join(betas))] if betas else []


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


async def _json(request: Request, body: dict[str, Any], headers: list[tuple[str, str]], *, path: str) -> dict[str, Any]:
    answer = json.loads(await read_upstream(await open_litellm(request, body, path, headers)))
    if not isinstance(answer, dict):
        raise BedrockError(500, "InternalServerException", "The model's answer was not a JSON object")
    return answer


async def invoke(request: Request) -> Response:
    started = time.perf_counter()
    call = await _read(request)
    model_id, body, kind = call.model_id, call.body, call.kind
    if kind is BodyFormat.ANTHROPIC:
        try:
            answer = await _json(request, *_anthropic(call, stream=False), path="/v1/messages")
        except BedrockError as error:
            if call.guardrail is None or not blocks(call.guardrail, error):
                raise
            return _answer(blocked_message(call.guardrail, model_id, error.message), started, 0, 0)
        usage = openai_usage(answer.get("usage"))
        note_usage(usage)
        message = anthropic_response(answer)
        if call.guardrail is not None:
            message.update(outcome(call.guardrail, None))
        return _answer(message, started, usage["prompt_tokens"], usage["completion_tokens"])
    if kind is BodyFormat.NOVA:
        answer = await _json(request, nova_request(model_id, body, stream=False), [], path="/v1/chat/completions")
        note_usage(answer.get("usage"))
        nova = nova_response(answer)
        return _answer(nova, started, nova["usage"]["inputTokens"], nova["usage"]["outputTokens"])
    if kind is BodyFormat.TITAN_EMBED:
        answer = await _json(request, titan_request(model_id, body), [], path="/v1/embeddings")
        note_usage(answer.get("usage"))
        titan = titan_response(body, answer)
        return _answer(titan, started, titan["inputTextTokenCount"], None)
    answer = await _json(request, cohere_request(model_id, body), [], path="/v1/embeddings")
    note_usage(answer.get("usage"))
    tokens = int((answer.get("usage") or {}).get("prompt_tokens") or 0)
    return _answer(cohere_response(body, answer), started, tokens, None)


async def invoke_stream(request: Request) -> Response:
    call = await _read(request)
    if not call.kind.streams:
        raise InvalidRequestError("The model is unsupported for streaming: embeddings bodies take InvokeModel")
    headers = {"x-amzn-RequestId": str(uuid.uuid4()), "X-Amzn-Bedrock-Content-Type": "application/json"}
    if call.kind is BodyFormat.ANTHROPIC:
        guardrail = call.guardrail
        try:
            payload, headers_out = _anthropic(call, stream=True)
            response = await open_litellm(request, payload, "/v1/messages", headers_out)
        except BedrockError as error:
            if guardrail is None or not blocks(guardrail, error):
                raise
            stream = AnthropicStream()
            events = blocked_events(guardrail, call.model_id, error.message)
            blocked = [frame for frame in map(stream.feed, events) if frame is not None]
            return StreamingResponse(iter(blocked), media_type=EVENT_STREAM, headers=headers)
        frames = _anthropic_frames(response, outcome(guardrail, None) if guardrail is not None else {})
    else:
        stream_body = nova_request(call.model_id, call.body, stream=True)
        response = await open_litellm(request, stream_body, "/v1/chat/completions")
        frames = stream_frames(response, StreamTranslator(emit=NovaEvents()))
    return StreamingResponse(frames, media_type=EVENT_STREAM, headers=headers)


async def _anthropic_frames(response: Upstream, stop_fields: dict[str, Any]) -> AsyncIterator[bytes]:
    stream = AnthropicStream(stop_fields)
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
    answer = await _json(request, counted, [], path="/utils/token_counter")
    return JSONResponse(
        {"inputTokens": int(answer.get("total_tokens") or 0)}, headers={"x-amzn-RequestId": str(uuid.uuid4())}
    )
