"""Chat history: POST /chat-history, /bedrock/chat-history, /session-ids; DELETE /chat-history/{id}.

Buffered JSON answers, so in AWS it runs under mangum (``handler``); locally, the same app under
uvicorn. ``/bedrock/...`` answers errors in Bedrock's shape, the rest in OpenAI's.
"""

from __future__ import annotations

from gateway_core.app_support import ErrorHandler, freeze_init_heap, function_app, lambda_handler
from gateway_core.converse.errors import bedrock_error_handlers
from gateway_core.http import LiteLLMClient
from gateway_core.openai_errors import openai_error_handlers
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chat_history.routes import bedrock_history, delete_session, openai_history, session_ids


def _errors_by_interface() -> dict[type[Exception], ErrorHandler]:
    """One handler per error class that renders Bedrock's shape on /bedrock/ paths."""
    bedrock, openai = bedrock_error_handlers(), openai_error_handlers()
    handlers: dict[type[Exception], ErrorHandler] = {}
    for error_class in {**bedrock, **openai}:
        b = bedrock.get(error_class) or bedrock[Exception]
        o = openai.get(error_class) or openai[Exception]

        async def handle(request: Request, exc: Exception, b: ErrorHandler = b, o: ErrorHandler = o) -> Response:
            return await (b if request.url.path.startswith("/bedrock/") else o)(request, exc)

        handlers[error_class] = handle
    return handlers


def create_app(litellm: LiteLLMClient | None = None) -> Starlette:
    routes: list[Route] = [
        Route("/chat-history", openai_history, methods=["POST"]),
        Route("/bedrock/chat-history", bedrock_history, methods=["POST"]),
        Route("/session-ids", session_ids, methods=["POST"]),
        Route("/chat-history/{session_id}", delete_session, methods=["DELETE"]),
    ]
    return function_app(routes, _errors_by_interface(), litellm=litellm)


app = create_app()
handler = lambda_handler(app)
freeze_init_heap()
