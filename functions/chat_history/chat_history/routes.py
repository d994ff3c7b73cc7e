"""History routes. Every one validates the key with LiteLLM first (``gateway_core.identity``):
a revoked key reads nothing, and another owner's session answers exactly like a missing one.
Deleting asks LiteLLM again whatever the identity cache says (``fresh``).

Reads page: ``limit`` messages (or sessions) at most, under Lambda's 6 MB answer whatever the
messages weigh (``gateway_core.history.sizes``), and a signed ``next_token`` bound to the caller
and the session (``gateway_core.history.cursor``) while more remain.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from gateway_core.bodies import json_object
from gateway_core.errors import InvalidRequestError
from gateway_core.history import history_store
from gateway_core.history.cursor import open_token, seal_token, token_key
from gateway_core.history.formats import openai_to_converse_history
from gateway_core.history.sizes import converse_cost, openai_cost
from gateway_core.history.turns import find_session
from gateway_core.identity import identify
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

MAX_SESSIONS_PAGE = 100
DEFAULT_MESSAGES_PAGE = 100
MAX_MESSAGES_PAGE = 1000


async def _json_body(request: Request) -> dict[str, Any]:
    return json_object(await request.body(), empty={})


def _limit(body: dict[str, Any], default: int, maximum: int) -> int:
    limit = body.get("limit", default)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= maximum:
        raise InvalidRequestError(f"limit must be an integer from 1 to {maximum}", param="limit")
    return limit


async def _history(
    request: Request, cost: Callable[[dict[str, Any]], int]
) -> tuple[str, list[dict[str, Any]], str | None]:
    """(session id, this page's messages with the system prompt first on the first page, next_token)."""
    caller = await identify(request)
    body = await _json_body(request)
    limit = _limit(body, DEFAULT_MESSAGES_PAGE, MAX_MESSAGES_PAGE)
    session = await find_session(caller, body.get("session_id"))
    key, binding = await token_key(), (caller.owner, "messages", session.session_id)
    token = body.get("next_token")
    after = open_token(key, token, *binding) if token is not None else None
    read = partial(history_store().page, session.session_id, after=after, limit=limit, cost=cost)
    page = await run_in_threadpool(read)
    next_token = seal_token(key, page.after, *binding) if page.after else None
    return session.session_id, (session.system if after is None else []) + page.messages, next_token


async def openai_history(request: Request) -> Response:
    """POST /chat-history {"session_id", "limit"?, "next_token"?} -> {"session_id", "messages", "next_token"}."""
    session_id, messages, next_token = await _history(request, openai_cost)
    return JSONResponse({"session_id": session_id, "messages": messages, "next_token": next_token})


async def bedrock_history(request: Request) -> Response:
    """POST /bedrock/chat-history {…same…} -> {"session_id", "messages", "system", "next_token"} (Converse)."""
    session_id, messages, next_token = await _history(request, converse_cost)
    return JSONResponse({"session_id": session_id, **openai_to_converse_history(messages), "next_token": next_token})


async def session_ids(request: Request) -> Response:
    """POST /session-ids {"limit"?, "next_token"?} -> the caller's sessions, newest first."""
    caller = await identify(request)
    body = await _json_body(request)
    limit = _limit(body, 50, MAX_SESSIONS_PAGE)
    key, binding = await token_key(), (caller.owner, "sessions")
    token = body.get("next_token")
    start = open_token(key, token, *binding) if token is not None else None
    sessions, last = await run_in_threadpool(history_store().list, caller.owner, limit, start)
    return JSONResponse(
        {
            "session_ids": [s.session_id for s in sessions],
            "sessions": [s.summary() for s in sessions],
            "next_token": seal_token(key, last, *binding) if last else None,
        }
    )


async def delete_session(request: Request) -> Response:
    """DELETE /chat-history/{session_id} -> the session and all its messages are gone."""
    session = await find_session(await identify(request, fresh=True), request.path_params["session_id"])
    deleted = await run_in_threadpool(history_store().delete, session.session_id)
    return JSONResponse({"session_id": session.session_id, "deleted": True, "messages_deleted": deleted})
