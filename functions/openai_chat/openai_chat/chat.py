"""The chat-completions route: validate just enough, then relay to LiteLLM.

Later features hook in at the marked seams without touching the relay:
  * managed prompts: resolve a prompt-ARN ``model`` into messages before forwarding;
  * chat history: prepend the stored turns before forwarding, store the turn afterwards.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway_core.errors import InvalidRequestError
from gateway_core.forwarding import forward, upstream_request
from gateway_core.openai_errors import sse_error_event


def parse_chat_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequestError(f"Request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidRequestError("Request body must be a JSON object")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise InvalidRequestError("'stream' must be a boolean", param="stream")
    return body


async def chat_completions(request: Request) -> Response:
    raw = await request.body()
    body = parse_chat_body(raw)
    # Seam (managed prompts, chat history): rewrite ``body`` here and re-serialise; until a
    # feature changes it, the caller's exact bytes go upstream.
    upstream = upstream_request(request, raw)
    return await forward(upstream, stream=body.get("stream", False), error_event=sse_error_event)
