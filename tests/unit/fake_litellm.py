"""A fake LiteLLM for unit tests, served in process behind the transport seam
(``tests.unit.asgi_transport``): ``/key/info`` for a few keys, ``/v1/chat/completions`` that
records what it was sent and answers a scripted reply (whole, or as SSE chunks), ``/v1/messages``
likewise in Anthropic's format, and the management calls onboarding makes (``/user/new``, ``/key/generate``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from gateway_core.http import LiteLLMClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.unit.asgi_transport import AsgiTransport

MASTER_KEY = "sk-master"
KEYS = {"sk-alice": "alice", "sk-alice-2": "alice", "sk-mallory": "mallory"}


def answer(text: str, model: str = "m") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }


def sse_chunks(pieces: list[str], model: str = "m") -> list[dict[str, Any]]:
    chunks: list[dict[str, Any]] = [
        {"id": "c", "model": model, "choices": [{"index": 0, "delta": {"role": "assistant", "content": piece}}]}
        for piece in pieces
    ]
    chunks.append({"id": "c", "model": model, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    chunks.append(
        {
            "id": "c",
            "model": model,
            "choices": [],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }
    )
    return chunks


def anthropic_message(text: str, model: str = "m") -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 2},
    }


def anthropic_events(message: dict[str, Any]) -> list[dict[str, Any]]:
    """``message`` as Anthropic's stream events (one text block, one delta)."""
    text = message["content"][0]["text"]
    return [
        {
            "type": "message_start",
            "message": {**message, "content": [], "usage": {"input_tokens": 3, "output_tokens": 0}},
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 2},
        },
        {"type": "message_stop"},
    ]


def anthropic_answer(message: dict[str, Any], stream: bool) -> Response:
    """LiteLLM's /v1/messages answer: ``message`` whole, or as Anthropic's SSE events."""
    if not stream:
        return JSONResponse(message)

    async def events() -> AsyncIterator[bytes]:
        for event in anthropic_events(message):
            yield f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()

    return StreamingResponse(events(), media_type="text/event-stream")


@dataclass
class FakeLiteLLM:
    reply: str = "Hello."
    stream_pieces: list[str] = field(default_factory=lambda: ["Hel", "lo."])
    stream_chunks: list[dict[str, Any]] | None = None  # streamed as they are, instead of stream_pieces
    stream_lines: list[str] | None = None  # the stream's raw lines (no [DONE] added), instead of either
    status: int = 200  # of chat completions
    error: dict[str, Any] | None = None  # body of a non-200 chat answer
    chats: list[dict[str, Any]] = field(default_factory=list)  # bodies LiteLLM received
    messages: list[dict[str, Any]] = field(default_factory=list)  # /v1/messages bodies received
    management: list[tuple[str, str, dict[str, Any] | None]] = field(default_factory=list)  # (path, token, body)
    users: set[str] = field(default_factory=set)  # onboarded user ids
    key_questions: int = 0
    teams: dict[str, list[str]] = field(default_factory=lambda: {"alice": ["team-a"]})  # /user/info
    thinking: Callable[[], None] = lambda: None  # runs as LiteLLM starts each answer (a test's clock moves)

    def client(self) -> LiteLLMClient:
        routes = [
            Route("/key/info", self._key_info, methods=["GET"]),
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/v1/messages", self._messages, methods=["POST"]),
            Route("/user/new", self._user_new, methods=["POST"]),
            Route("/key/generate", self._key_generate, methods=["POST"]),
            Route("/user/info", self._user_info, methods=["GET"]),
        ]
        return LiteLLMClient(AsgiTransport(Starlette(routes=routes)))

    async def _key_info(self, request: Request) -> Response:
        self.key_questions += 1
        self.thinking()
        user = KEYS.get(request.headers.get("authorization", "").removeprefix("Bearer "))
        if user is None:
            return JSONResponse({"error": {"message": "Authentication Error, Invalid proxy server token"}}, 401)
        return JSONResponse({"key": f"hash-{user}", "info": {"user_id": user, "team_id": f"team-{user}"}})

    async def _chat(self, request: Request) -> Response:
        body = json.loads(await request.body())
        self.chats.append(body)
        self.thinking()
        if self.status != 200:
            return JSONResponse(self.error or {"error": {"message": "failed"}}, self.status)
        model = str(body.get("model"))
        if not body.get("stream"):
            return JSONResponse(answer(self.reply, model))

        async def events() -> AsyncIterator[bytes]:
            if self.stream_lines is not None:
                for line in self.stream_lines:
                    yield f"{line}\n".encode()
                return
            for chunk in self.stream_chunks or sse_chunks(self.stream_pieces, model):
                yield f"data: {json.dumps(chunk)}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def _messages(self, request: Request) -> Response:
        body = json.loads(await request.body())
        self.messages.append(body)
        if self.status != 200:
            return JSONResponse(self.error or {"error": {"message": "failed"}}, self.status)
        return anthropic_answer(anthropic_message(self.reply, str(body.get("model"))), bool(body.get("stream")))

    async def _management(self, request: Request) -> tuple[str, dict[str, Any]]:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        body = json.loads(await request.body() or b"null")
        self.management.append((request.url.path, token, body))
        return token, body

    async def _user_new(self, request: Request) -> Response:
        token, body = await self._management(request)
        if token != MASTER_KEY and not token.startswith("sk-"):
            return JSONResponse({"error": {"message": "Unauthorized"}}, 401)
        body = body or {}  # an empty body: LiteLLM makes up the user id
        user_id = body.get("user_id", "generated-user-id")
        if user_id in self.users:
            return JSONResponse({"error": {"message": "User already exists"}}, 409)
        self.users.add(user_id)
        return JSONResponse({"user_id": user_id, "key": "sk-new-user-key", "user_email": body.get("user_email")})

    async def _key_generate(self, request: Request) -> Response:
        _, body = await self._management(request)
        return JSONResponse({"user_id": (body or {}).get("user_id"), "key": "sk-another-key"})

    async def _user_info(self, request: Request) -> Response:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        user = request.query_params.get("user_id", "")
        self.management.append((f"/user/info?user_id={user}", token, None))
        if token != MASTER_KEY:
            return JSONResponse({"error": {"message": "Unauthorized"}}, 401)
        if user not in self.teams:
            return JSONResponse({"error": {"message": "not found"}}, 404)
        return JSONResponse({"user_id": user, "user_info": {"teams": self.teams[user]}})
