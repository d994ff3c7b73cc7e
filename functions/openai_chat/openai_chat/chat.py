"""The chat-completions route: validate just enough, then relay to LiteLLM.

A plain request goes upstream byte for byte. Two features rewrite it first:
  * managed prompts: a prompt-ARN ``model`` is rendered into messages (``promptVariables``);
  * chat history: ``enable_history`` / ``session_id`` prepend the stored turns, and the turn is
    stored once the answer is complete (see ``openai_chat.history``).
A request without a key is refused before its body is read; one that needs a prompt or history
has its key validated by LiteLLM before either is touched.
"""

from __future__ import annotations

import json
from typing import Any

from gateway_core.bodies import json_object
from gateway_core.errors import InvalidRequestError
from gateway_core.forwarding import forward, upstream_request
from gateway_core.history.turns import HistoryRequest, open_conversation
from gateway_core.http import litellm_client
from gateway_core.identity import bearer_token, identify
from gateway_core.openai_errors import sse_error_event
from gateway_core.prioritized import prioritized
from gateway_core.priority import requested_priority
from gateway_core.prompts import apply_to_openai, is_prompt_arn, render_prompt
from gateway_core.request_record import note_model
from gateway_core.stream_usage import asking_for_usage, must_ask_for_usage, with_stream_usage
from starlette.requests import Request
from starlette.responses import Response

from openai_chat.history import chat_with_history

_FEATURE_FIELDS = ("enable_history", "session_id", "promptVariables")


def parse_chat_body(raw: bytes) -> dict[str, Any]:
    """The body, with the fields the gateway itself reads type-checked (the rest is LiteLLM's)."""
    body = json_object(raw)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise InvalidRequestError("'stream' must be a boolean", param="stream")
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise InvalidRequestError("'model' must be a string", param="model")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise InvalidRequestError("'stream_options' must be an object", param="stream_options")
    return body


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise InvalidRequestError("'messages' must be a list of message objects", param="messages")
    return messages


async def chat_completions(request: Request) -> Response:
    bearer_token(request)  # no key, no work
    raw = await request.body()
    body = parse_chat_body(raw)
    priority = requested_priority(body)
    if "priority" in body:  # ours to apply (gateway_core.prioritized); LiteLLM's own is broken
        del body["priority"]
        raw = json.dumps(body).encode()
    return await prioritized(request, body.get("model"), priority, lambda: _relay(request, raw, body))


async def _relay(request: Request, raw: bytes, body: dict[str, Any]) -> Response:
    stream = body.get("stream", False)
    # Streams always ask LiteLLM for their usage chunk (the metrics count tokens); a caller that
    # did not ask gets the stream without it (gateway_core.stream_usage).
    strip_usage = must_ask_for_usage(body)
    if not is_prompt_arn(body.get("model")) and not any(name in body for name in _FEATURE_FIELDS):
        note_model(body.get("model"))
        if strip_usage:
            raw = with_stream_usage(raw, body) or json.dumps(asking_for_usage(body)).encode()
        return await forward(
            litellm_client(request),
            upstream_request(request, raw),
            stream=stream,
            error_event=sse_error_event,
            strip_usage=strip_usage,
        )

    wanted = HistoryRequest.pop_from(body)
    variables = body.pop("promptVariables", None)
    if wanted is not None or is_prompt_arn(body.get("model")):
        await identify(request)  # before any prompt is fetched or history read: the key must be valid
    if is_prompt_arn(body.get("model")):
        _messages(body)
        body = apply_to_openai(await render_prompt(body["model"], variables), body)
    elif variables:
        raise InvalidRequestError("promptVariables apply only when model is a prompt ARN", param="promptVariables")
    note_model(body.get("model"))
    if strip_usage:
        body = asking_for_usage(body)
    if wanted is None:
        upstream = upstream_request(request, json.dumps(body).encode())
        return await forward(
            litellm_client(request), upstream, stream=stream, error_event=sse_error_event, strip_usage=strip_usage
        )

    conversation = await open_conversation(request, wanted)
    body["messages"], new_messages, system = conversation.compose(_messages(body))
    upstream = upstream_request(request, json.dumps(body).encode())
    return await chat_with_history(
        litellm_client(request),
        upstream,
        conversation,
        new_messages,
        system,
        model=body.get("model"),
        stream=stream,
        strip_usage=strip_usage,
    )
