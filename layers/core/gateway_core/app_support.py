"""What every function app shares: its lifespan, its readiness route and its Lambda handler.

The apps are Starlette apps (FastAPI's foundation): we validate bodies ourselves, in the shape
each interface promises, so FastAPI's pydantic and OpenAPI layers would only add ~250 ms to every
cold start (bench/).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway_core.http import close_clients
from gateway_core.observability import AccessLogMiddleware, configure_logging

__all__ = ["ErrorHandler", "function_app", "health", "lambda_handler", "lifespan"]

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]


@asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[None]:
    yield
    await close_clients()


async def health(_: Request) -> Response:
    """Readiness for the Lambda Web Adapter (AWS_LWA_READINESS_CHECK_PATH); not an API route."""
    return JSONResponse({"status": "ok"})


def function_app(routes: list[BaseRoute], exception_handlers: Mapping[type[Exception], ErrorHandler]) -> Starlette:
    """A function's app: its routes plus the readiness route, access logs with the overhead
    header, its interface's error shapes, and the shared lifespan."""
    configure_logging()
    return Starlette(
        routes=[*routes, Route("/health", health, methods=["GET"])],
        middleware=[Middleware(AccessLogMiddleware)],
        exception_handlers=dict(exception_handlers),
        lifespan=lifespan,
    )


def lambda_handler(app: Starlette) -> LambdaHandler:
    """A handler for in-process invocation with API Gateway events (what `sam local invoke`
    does). It buffers, as mangum does; deployed functions stream under the Lambda Web Adapter
    and never load mangum, hence the import on first use."""
    adapter: Any = None

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        nonlocal adapter
        if adapter is None:
            from mangum import Mangum

            adapter = Mangum(app, lifespan="off")
        result: dict[str, Any] = adapter(event, context)
        return result

    return handler
