"""The two routes: parse, translate, call LiteLLM with the caller's key, translate back.

Chat history travels in ``additionalModelRequestFields`` (``enable_history`` / ``session_id``,
removed before forwarding); the session id comes back in the ``x-session-id`` header. A prompt
ARN as ``modelId`` is rendered with ``promptVariables`` (``gateway_core.prompts``).

Order of work: a request without a key is refused before its body is read; the body is checked
against botocore's Converse shapes (``gateway_core.converse.validation``); a request that needs
a prompt or history has its key validated by LiteLLM before either is touched. A plain turn's
key is checked by LiteLLM on the chat call itself.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from gateway_core.bodies import json_object
from gateway_core.converse.errors import BedrockError, from_gateway_error, from_litellm_error
from gateway_core.converse.guardrails import BLOCKED_MARKER, Guardrail, blocked_answer, resolve_guardrail
from gateway_core.converse.options import echoed_options, response_field_paths, response_fields
from gateway_core.converse.request import converse_to_openai
from gateway_core.converse.response import openai_to_converse
from gateway_core.converse.stream import StreamTranslator, parse_sse_line
from gateway_core.converse.validation import validate_converse
from gateway_core.errors import InvalidRequestError, UpstreamError
from gateway_core.eventstream import encode_exception
from gateway_core.forwarding import read_upstream, upstream_request
from gateway_core.history.turns import (
    HISTORY_SAVED_HEADER,
    SESSION_HEADER,
    Conversation,
    HistoryRequest,
    StreamedAnswer,
    assistant_message,
    open_conversation,
)
from gateway_core.http import Upstream, litellm_client
from gateway_core.identity import bearer_token, identify
from gateway_core.prioritized import prioritized
from gateway_core.priority import requested_priority
from gateway_core.prompts import apply_to_converse, is_prompt_arn, render_prompt
from gateway_core.request_record import note_model, note_upstream_failure, note_usage
from gateway_core.streaming import StreamingResponse
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

EVENT_STREAM = "application/vnd.amazon.eventstream"


@dataclass
class Turn:
    """What one Converse call sends upstream, and what it must store afterwards."""

    body: dict[str, Any]  # OpenAI chat body for LiteLLM
    field_paths: list[str] = field(default_factory=list)  # additionalModelResponseFieldPaths
    echoed: dict[str, Any] = field(default_factory=dict)  # serviceTier, performanceConfig
    guardrail: Guardrail | None = None
    conversation: Conversation | None = None
    new_messages: list[dict[str, Any]] | None = None
    system: list[dict[str, Any]] | None = None
    priority: int | None = None  # asked for in additionalModelRequestFields (gateway_core.priority)

    def blocked(self, error: BedrockError) -> bool:
        """Whether ``error`` is the requested guardrail blocking the input (Bedrock: not an error)."""
        return self.guardrail is not None and error.status == 400 and BLOCKED_MARKER in error.message.lower()

    async def save(self, assistant: dict[str, Any]) -> bool:
        assert self.conversation is not None
        return await self.conversation.save(
            [*(self.new_messages or []), assistant], model=self.body.get("model"), system=self.system
        )

    def headers(self) -> dict[str, str]:
        headers = {"x-amzn-RequestId": str(uuid.uuid4())}
        if self.conversation is not None:
            headers[SESSION_HEADER] = self.conversation.session_id
        return headers


async def _turn(request: Request, model_id: str, stream: bool) -> Turn:
    bearer_token(request)  # no key, no work
    body = json_object(await request.body(), empty={})
    identified = is_prompt_arn(model_id)
    if identified:
        await identify(request)  # a prompt will be fetched: the key must be valid first
    validate_converse(body, model_id, stream=stream)
    wanted = None
    extra = body.get("additionalModelRequestFields")
    priority = None
    if isinstance(extra, dict) and "priority" in extra:
        priority = requested_priority(extra, "additionalModelRequestFields.priority")
        extra = {k: v for k, v in extra.items() if k != "priority"}
        body["additionalModelRequestFields"] = extra
    if isinstance(extra, dict) and ("enable_history" in extra or "session_id" in extra):
        extra = dict(extra)
        wanted = HistoryRequest.pop_from(extra)
        body["additionalModelRequestFields"] = extra
    if wanted is not None and not identified:
        await identify(request)  # history will be read: the key must be valid first
    if is_prompt_arn(model_id):
        prompt = await render_prompt(model_id, body.pop("promptVariables", None))
        body, model_id = apply_to_converse(prompt, body), prompt.model_id
    elif body.pop("promptVariables", None):
        raise InvalidRequestError("promptVariables apply only when modelId is a prompt ARN")
    guardrail_config = body.pop("guardrailConfig", None)
    turn = Turn(
        converse_to_openai(model_id, body, stream=stream),
        response_field_paths(body),
        echoed_options(body),
        priority=priority,
    )
    if guardrail_config is not None:
        turn.guardrail = await resolve_guardrail(litellm_client(request), guardrail_config)
        turn.body["guardrails"] = [turn.guardrail.litellm_name]
    if stream and turn.field_paths:
        raise InvalidRequestError("additionalModelResponseFieldPaths is served on converse, not on converse-stream")
    note_model(model_id)
    if wanted is not None:
        turn.conversation = await open_conversation(request, wanted)
        turn.body["messages"], turn.new_messages, turn.system = turn.conversation.compose(turn.body["messages"])
    return turn


async def error_from(response: Upstream) -> BedrockError:
    raw = await read_upstream(response)
    try:
        body: Any = json.loads(raw)
    except ValueError:  # not JSON, or not even UTF-8 (UnicodeDecodeError): relayed as text
        body = raw.decode(errors="replace")
    return from_litellm_error(response.status_code, body)


async def open_litellm(
    request: Request, body: dict[str, Any], path: str, headers: Sequence[tuple[str, str]] = ()
) -> Upstream:
    """Send ``body`` to LiteLLM's ``path`` with the caller's key; a non-200 answer raises."""
    upstream = upstream_request(request, json.dumps(body).encode(), path)
    if headers:
        upstream = replace(upstream, headers=[*upstream.headers, *headers])
    response = await litellm_client(request).send(upstream)
    if response.status_code != 200:
        raise await error_from(response)
    return response


async def _open(request: Request, turn: Turn) -> Upstream:
    return await open_litellm(request, turn.body, "/v1/chat/completions")


async def converse(request: Request) -> Response:
    started = time.perf_counter()
    turn = await _turn(request, request.path_params["modelId"], stream=False)
    return await prioritized(request, turn.body.get("model"), turn.priority, lambda: _converse(request, turn, started))


async def _converse(request: Request, turn: Turn, started: float) -> Response:
    try:
        upstream = await _open(request, turn)
    except BedrockError as error:
        if not turn.blocked(error):
            raise
        assert turn.guardrail is not None
        latency = int((time.perf_counter() - started) * 1000)
        return JSONResponse(blocked_answer(turn.guardrail, error.message, latency), headers=turn.headers())
    answer = json.loads(await read_upstream(upstream))
    note_usage(answer.get("usage"))
    latency = int((time.perf_counter() - started) * 1000)
    headers = turn.headers()
    if turn.conversation is not None:
        message = ((answer.get("choices") or [{}])[0]).get("message") or {}
        headers[HISTORY_SAVED_HEADER] = "true" if await turn.save(assistant_message(message)) else "false"
    response = {**openai_to_converse(answer, latency), **turn.echoed}
    fields = response_fields(turn.field_paths, answer)
    if fields is not None:
        response["additionalModelResponseFields"] = fields
    return JSONResponse(response, headers=headers)


async def converse_stream(request: Request) -> Response:
    turn = await _turn(request, request.path_params["modelId"], stream=True)
    return await prioritized(request, turn.body.get("model"), turn.priority, lambda: _converse_stream(request, turn))


async def _converse_stream(request: Request, turn: Turn) -> Response:
    translator = StreamTranslator()
    translator.metadata.update(turn.echoed)
    try:
        response = await _open(request, turn)
    except BedrockError as error:
        if not turn.blocked(error):
            raise
        assert turn.guardrail is not None
        blocked = blocked_answer(turn.guardrail, error.message, 0)
        if "trace" in blocked:
            translator.metadata["trace"] = blocked["trace"]
        text = turn.guardrail.blocked_message
        frames = translator.feed({"choices": [{"delta": {"content": text}, "finish_reason": "guardrail_intervened"}]})
        return StreamingResponse(iter([*frames, *translator.finish()]), media_type=EVENT_STREAM, headers=turn.headers())
    return StreamingResponse(_frames(response, turn, translator), media_type=EVENT_STREAM, headers=turn.headers())


def exception_frame(error: BedrockError | UpstreamError) -> bytes:
    """The exception frame that ends a Bedrock event stream once it started: LiteLLM reported a
    failure inside the stream (BedrockError), or went away or silent mid-stream (UpstreamError)."""
    if isinstance(error, BedrockError):
        note_upstream_failure()
        return encode_exception(error.stream_exception_type, error.message)
    return encode_exception(from_gateway_error(error).stream_exception_type, error.message)


async def stream_frames(response: Upstream, translator: StreamTranslator) -> AsyncIterator[bytes]:
    """An OpenAI chat stream as ``translator``'s frames (no history): InvokeModel's Nova stream."""
    async for frame in _frames(response, Turn({}), translator):
        yield frame


async def _frames(response: Upstream, turn: Turn, translator: StreamTranslator | None = None) -> AsyncIterator[bytes]:
    translator = translator or StreamTranslator()
    answer = StreamedAnswer() if turn.conversation is not None else None  # only what will be stored
    try:
        async for line in response.aiter_lines():
            chunk = parse_sse_line(line)
            if chunk is not None:
                for frame in translator.feed(chunk):
                    yield frame
                if answer is not None:
                    answer.feed(chunk)
        note_usage(translator.usage)
        if answer is not None:
            await turn.save(answer.message())  # before the last frames: a client that saw the end sees the turn
        for frame in translator.finish():
            yield frame
    except (BedrockError, UpstreamError) as error:
        yield exception_frame(error)
    finally:
        await response.aclose()  # also on client disconnect: LiteLLM stops generating
