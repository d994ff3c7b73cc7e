"""Chat completions with server-side history: answer first, then store the turn.

The session id comes back as a top-level ``session_id`` (non-streaming; the OpenAI SDK shows it
in ``model_extra``), on the first SSE chunk (streaming) and in the ``x-session-id`` header.
``x-history-saved: false`` says the turn could not be stored; a stream says it with an SSE
comment before ``[DONE]``, since its headers are long gone by then.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from gateway_core.errors import UpstreamError
from gateway_core.forwarding import read_upstream, relay_headers, relay_whole
from gateway_core.history.turns import (
    HISTORY_SAVED_HEADER,
    SESSION_HEADER,
    Conversation,
    StreamedAnswer,
    assistant_message,
)
from gateway_core.http import LiteLLMClient, Upstream, UpstreamRequest
from gateway_core.openai_errors import sse_error_event
from gateway_core.request_record import note_upstream_failure, note_usage
from gateway_core.stream_usage import is_usage_only
from gateway_core.streaming import StreamingResponse
from starlette.responses import JSONResponse, Response

__all__ = ["chat_with_history"]

Messages = list[dict[str, Any]]


async def chat_with_history(
    client: LiteLLMClient,
    upstream: UpstreamRequest,
    conversation: Conversation,
    new_messages: Messages,
    system: Messages | None,
    *,
    model: str | None,
    stream: bool,
    strip_usage: bool,
) -> Response:
    response = await client.send(upstream)
    if response.status_code != 200:
        return await relay_whole(response)  # nothing to store: the turn did not happen
    headers = {**dict(relay_headers(response.headers)), SESSION_HEADER: conversation.session_id}
    if stream:
        turn = _stream_turn(response, conversation, new_messages, system, model, strip_usage)
        return StreamingResponse(turn, headers=headers)
    answer = json.loads(await read_upstream(response))
    note_usage(answer.get("usage"))
    message = ((answer.get("choices") or [{}])[0]).get("message") or {}
    saved = await conversation.save([*new_messages, assistant_message(message)], model=model, system=system)
    answer["session_id"] = conversation.session_id
    headers[HISTORY_SAVED_HEADER] = "true" if saved else "false"
    return JSONResponse(answer, headers=headers)


def _json(data: str) -> Any:
    try:
        return json.loads(data)
    except json.JSONDecodeError:
        return None  # relayed as it came; nothing to learn from it


async def _stream_turn(
    response: Upstream,
    conversation: Conversation,
    new_messages: Messages,
    system: Messages | None,
    model: str | None,
    strip_usage: bool,
) -> AsyncIterator[bytes]:
    answer = StreamedAnswer()
    first, failed, finished = True, False, False
    try:
        async for line in response.aiter_lines():
            data = line[5:].strip() if line.startswith("data:") else None
            if data == "[DONE]":
                finished = True
                break
            if data:
                chunk = _json(data)
                if isinstance(chunk, dict) and "error" in chunk:
                    failed = True
                    note_upstream_failure()
                elif isinstance(chunk, dict):
                    if chunk.get("usage"):
                        note_usage(chunk["usage"])
                        if strip_usage and is_usage_only(chunk):
                            continue  # asked for by the gateway, for its metrics only
                    answer.feed(chunk)
                    if first:
                        chunk["session_id"], first = conversation.session_id, False
                        line = "data: " + json.dumps(chunk)
            yield line.encode() + b"\n"
    except UpstreamError as error:
        yield sse_error_event(error)
        return
    finally:
        await response.aclose()
    if failed:
        return
    saved = await conversation.save([*new_messages, answer.message()], model=model, system=system)
    if not saved:
        yield b": history not saved\n\n"
    if finished:
        yield b"data: [DONE]\n\n"
