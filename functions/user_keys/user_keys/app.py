"""Self-service identity: POST /user/new (Okta JWT onboarding) and POST /key/generate (guarded).

Buffered JSON answers: in AWS it runs under mangum (``handler``); locally, the same app under
uvicorn. Errors use OpenAI's envelope, like LiteLLM's management API next to it.
"""

from __future__ import annotations

from fastapi import FastAPI
from gateway_core.app_support import health, lambda_handler, lifespan
from gateway_core.observability import AccessLogMiddleware, configure_logging
from gateway_core.openai_errors import install_openai_error_handlers

from user_keys.keys import generate_key
from user_keys.onboarding import new_user


def create_app() -> FastAPI:
    configure_logging()
    app = FastAPI(title="gateway-user-keys", lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    install_openai_error_handlers(app)
    app.add_middleware(AccessLogMiddleware)
    app.add_api_route("/user/new", new_user, methods=["POST"])
    app.add_api_route("/key/generate", generate_key, methods=["POST"])
    app.add_api_route("/health", health, methods=["GET"], include_in_schema=False)
    return app


app = create_app()
handler = lambda_handler(app)
