"""History routes. Every one validates the key with LiteLLM first (``gateway_core.identity``):
a revoked key reads nothing, and another owner's session answers exactly like a missing one."""

from __future__ import annotations

from typing import Any

from gateway_core.bodies import json_object
from gateway_core.errors import InvalidRequestError
from gateway_core.history import history_store
from gateway_core.history.formats import openai_to_converse_history
from gateway_core.history.turns import find_session
from gateway_core.identity import identify
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

MAX_PAGE = 100


async def _json_body(request: Request) -> dict[str, Any]:
    return json_object(await request.body(), empty={})


async def _history(request: Request) -> tuple[str, list[dict[str, Any]]]:
    body = await _json_body(request)
    session = await find_session(await identify(request), body.get("session_id"))
    messages = await run_in_threadpool(history_store().messages, session.session_id)
    return session.session_id, session.system + messages


async def openai_history(request: Request) -> Response:
    """POST /chat-history {"session_id"} -> {"session_id", "messages"} (OpenAI format)."""
    session_id, messages = await _history(request)
    return JSONResponse({"session_id": session_id, "messages": messages})


async def bedrock_history(request: Request) -> Response:
    """POST /bedrock/chat-history {"session_id"} -> {"session_id", "messages", "system"} (Converse)."""
    session_id, messages = await _history(request)
    return JSONResponse({"session_id": session_id, **openai_to_converse_history(messages)})


async def session_ids(request: Request) -> Response:
    """POST /session-ids {"limit"?, "next_token"?} -> the caller's sessions, newest first."""
    body = await _json_body(request)
    limit = body.get("limit", 50)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE:
        raise InvalidRequestError(f"limit must be an integer from 1 to {MAX_PAGE}", param="limit")
    token = body.get("next_token")
    if token is not None and not isinstance(token, str):
        raise InvalidRequestError("next_token must be a string", param="next_token")
    caller = await identify(request)
    sessions, next_token = await run_in_threadpool(history_store().list, caller.owner, limit, token)
    return JSONResponse(
        {
            "session_ids": [s.session_id for s in sessions],
            "sessions": [s.summary() for s in sessions],
            "next_token": next_token,
        }
    )


async def delete_session(request: Request) -> Response:
    """DELETE /chat-history/{session_id} -> the session and all its messages are gone."""
    session = await find_session(await identify(request, fresh=True), request.path_params["session_id"])
    deleted = await run_in_threadpool(history_store().delete, session.session_id)
    return JSONResponse({"session_id": session.session_id, "deleted": True, "messages_deleted": deleted})
