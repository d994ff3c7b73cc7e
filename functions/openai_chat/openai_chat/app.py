"""OpenAI interface: POST /v1/chat/completions and /chat/completions, relayed to LiteLLM.

Runs under uvicorn locally and under the Lambda Web Adapter in AWS (run.sh), so responses
stream. ``handler`` serves in-process invocations with API Gateway events.
"""

from __future__ import annotations

from fastapi import FastAPI
from gateway_core.app_support import health, lambda_handler, lifespan
from gateway_core.observability import AccessLogMiddleware, configure_logging
from gateway_core.openai_errors import install_openai_error_handlers

from openai_chat.chat import chat_completions


def create_app() -> FastAPI:
    configure_logging()
    app = FastAPI(title="gateway-openai", lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    install_openai_error_handlers(app)
    app.add_middleware(AccessLogMiddleware)
    app.add_api_route("/v1/chat/completions", chat_completions, methods=["POST"])
    app.add_api_route("/chat/completions", chat_completions, methods=["POST"])
    app.add_api_route("/health", health, methods=["GET"], include_in_schema=False)
    return app


app = create_app()
handler = lambda_handler(app)
