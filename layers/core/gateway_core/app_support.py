"""What every function app shares: its lifespan, its readiness route and its Lambda handler.

The apps are Starlette apps (FastAPI's foundation): we validate bodies ourselves, in the shape
each interface promises, so FastAPI's pydantic and OpenAPI layers would only add ~250 ms to every
cold start (bench/).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway_core import tracing
from gateway_core.body_limit import BodyLimitMiddleware
from gateway_core.http import LiteLLMClient
from gateway_core.observability import AccessLogMiddleware, configure_logging

__all__ = ["ErrorHandler", "function_app", "health", "lambda_handler", "lifespan"]

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    await app.state.litellm.aclose()


async def health(_: Request) -> Response:
    """Readiness for the Lambda Web Adapter (AWS_LWA_READINESS_CHECK_PATH); not an API route."""
    return JSONResponse({"status": "ok"})


def function_app(
    routes: list[BaseRoute],
    exception_handlers: Mapping[type[Exception], ErrorHandler],
    *,
    litellm: LiteLLMClient | None = None,
) -> Starlette:
    """A function's app: its routes plus the readiness route, access logs with the overhead
    header, API Gateway's body limit, its interface's error shapes, the shared lifespan, and its LiteLLM client in
    ``app.state.litellm`` (the real transport unless a test passes another)."""
    configure_logging()
    app = Starlette(
        routes=[*routes, Route("/health", health, methods=["GET"])],
        middleware=[Middleware(AccessLogMiddleware), Middleware(BodyLimitMiddleware)],
        exception_handlers=dict(exception_handlers),
        lifespan=lifespan,
    )
    # The service name of its logs, metrics and traces; the local gateway, which serves every
    # function in one process, sets each app's own from template.yaml.
    app.state.service = os.environ.get("POWERTOOLS_SERVICE_NAME", "gateway")
    tracing.prepare(app.state.service)  # the X-Ray SDK at init, only when tracing is on
    if litellm is None:
        from gateway_core.h1_transport import Http1Transport

        litellm = LiteLLMClient(Http1Transport())
    app.state.litellm = litellm
    return app


def lambda_handler(app: Starlette) -> LambdaHandler:
    """The Lambda handler for API Gateway events (mangum, which buffers the answer).

    The buffered functions (chat_history, user_keys) run under it in AWS. The streaming ones
    run under the Lambda Web Adapter and use it only for events (`sam local invoke`), so
    mangum is imported on first use, not on their cold start."""
    adapter: Any = None

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        nonlocal adapter
        if adapter is None:
            from mangum import Mangum

            adapter = Mangum(app, lifespan="off")
        result: dict[str, Any] = adapter(event, context)
        return result

    return handler
