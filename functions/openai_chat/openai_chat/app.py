"""OpenAI interface: POST /v1/chat/completions and /chat/completions, relayed to LiteLLM.

Runs under uvicorn locally and under the Lambda Web Adapter in AWS (run.sh), so responses
stream. ``handler`` serves in-process invocations with API Gateway events (what
``sam local invoke`` would do); it buffers, as mangum does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from openai_chat.chat import chat_completions
from gateway_core.http import close_clients
from gateway_core.observability import AccessLogMiddleware, configure_logging
from gateway_core.openai_errors import install_openai_error_handlers


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield
    await close_clients()


def create_app() -> FastAPI:
    configure_logging()
    app = FastAPI(title="gateway-openai", lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    install_openai_error_handlers(app)
    app.add_middleware(AccessLogMiddleware)
    app.add_api_route("/v1/chat/completions", chat_completions, methods=["POST"])
    app.add_api_route("/chat/completions", chat_completions, methods=["POST"])
    app.add_api_route("/health", health, methods=["GET"], include_in_schema=False)
    return app


async def health(_: Request) -> Response:
    """Readiness for the Lambda Web Adapter; not an API route."""
    return JSONResponse({"status": "ok"})


app = create_app()
_mangum: Any = None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _mangum
    if _mangum is None:  # imported on first use: LWA deployments never load it
        from mangum import Mangum

        _mangum = Mangum(app, lifespan="off")
    result: dict[str, Any] = _mangum(event, context)
    return result
