"""Chat history: POST /chat-history, /bedrock/chat-history, /session-ids; DELETE /chat-history/{id}.

Buffered JSON answers, so in AWS it runs under mangum (``handler``); locally, the same app under
uvicorn. ``/bedrock/...`` answers errors in Bedrock's shape, the rest in OpenAI's.
"""

from __future__ import annotations

from fastapi import FastAPI
from gateway_core.app_support import health, lambda_handler, lifespan
from gateway_core.converse.errors import install_bedrock_error_handlers
from gateway_core.observability import AccessLogMiddleware, configure_logging
from gateway_core.openai_errors import install_openai_error_handlers
from starlette.requests import Request
from starlette.responses import Response

from chat_history.routes import bedrock_history, delete_session, openai_history, session_ids


def _errors_by_interface(app: FastAPI) -> None:
    """One handler per error class that renders Bedrock's shape on /bedrock/ paths."""
    bedrock, openai = FastAPI(), FastAPI()
    install_bedrock_error_handlers(bedrock)
    install_openai_error_handlers(openai)
    for error_class, openai_handler in openai.exception_handlers.items():
        bedrock_handler = bedrock.exception_handlers[error_class]

        async def handle(request: Request, exc: Exception, b=bedrock_handler, o=openai_handler) -> Response:
            return await (b if request.url.path.startswith("/bedrock/") else o)(request, exc)

        app.add_exception_handler(error_class, handle)


def create_app() -> FastAPI:
    configure_logging()
    app = FastAPI(title="gateway-chat-history", lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    _errors_by_interface(app)
    app.add_middleware(AccessLogMiddleware)
    app.add_api_route("/chat-history", openai_history, methods=["POST"])
    app.add_api_route("/bedrock/chat-history", bedrock_history, methods=["POST"])
    app.add_api_route("/session-ids", session_ids, methods=["POST"])
    app.add_api_route("/chat-history/{session_id}", delete_session, methods=["DELETE"])
    app.add_api_route("/health", health, methods=["GET"], include_in_schema=False)
    return app


app = create_app()
handler = lambda_handler(app)
