"""What every function app shares: its lifespan, its readiness route and its Lambda handler.

The apps are Starlette apps (FastAPI's foundation): we validate bodies ourselves, in the shape
each interface promises, so FastAPI's pydantic and OpenAPI layers would only add ~250 ms to every
cold start (bench/).

A request to one of a function's own routes is called straight from the app (``FunctionApp``):
Starlette's stack would take it through its error middleware, our two, its exception middleware,
the router and the route's own wrapper, with ``send`` wrapped four times on the way, for what
takes one wrapper here. Everything else (``/health``, a 404, a 405) still goes Starlette's way.
"""

from __future__ import annotations

import gc
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, cast

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from gateway_core import tracing
from gateway_core.body_limit import BodyLimitMiddleware
from gateway_core.http import LiteLLMClient
from gateway_core.observability import AccessLogMiddleware, configure_logging

__all__ = ["ErrorHandler", "FunctionApp", "freeze_init_heap", "function_app", "health", "lambda_handler", "lifespan"]

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    await app.state.litellm.aclose()


async def health(_: Request) -> Response:
    """Readiness for the Lambda Web Adapter (AWS_LWA_READINESS_CHECK_PATH); not an API route."""
    return JSONResponse({"status": "ok"})


class FunctionApp(Starlette):
    """Starlette serving ``api_routes`` and ``/health``; a request to one of ``api_routes`` (method
    and path match) is called straight: access log and body limit, the endpoint, its exceptions
    rendered by ``exception_handlers`` as Starlette's stack renders them (an unexpected one answered
    by the handler for ``Exception``, then raised on to the server, which logs it and, mid-answer,
    drops the connection)."""

    def __init__(self, api_routes: list[Route], exception_handlers: Mapping[type[Exception], ErrorHandler]) -> None:
        super().__init__(
            routes=[*api_routes, Route("/health", health, methods=["GET"])],
            middleware=[Middleware(AccessLogMiddleware), Middleware(BodyLimitMiddleware)],
            exception_handlers=dict(exception_handlers),
            lifespan=lifespan,
        )
        self.api_routes = tuple(api_routes)
        self._direct = AccessLogMiddleware(BodyLimitMiddleware(self._call_endpoint))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for route in self.api_routes:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:  # what Starlette's router would pick: the first full match
                    scope["app"] = self
                    scope.update(child_scope)
                    scope["route"] = route
                    await self._direct(scope, receive, send)
                    return
        await super().__call__(scope, receive, send)

    async def _call_endpoint(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        unexpected: Exception | None = None
        try:
            response = await scope["endpoint"](request)
        except Exception as exc:
            handlers = cast(dict[type[Exception], ErrorHandler], self.exception_handlers)  # the ones given
            handler = next((handlers[c] for c in type(exc).__mro__ if c in handlers), None)
            if handler is None:
                raise
            if handler is handlers.get(Exception):
                unexpected = exc
            response = await handler(request, exc)
        # Raised from here, the answer has started (our responses send their head first): to the
        # server, as from Starlette's stack, which cannot answer twice either.
        await response(scope, receive, send)
        if unexpected is not None:
            raise unexpected


def function_app(
    routes: list[Route],
    exception_handlers: Mapping[type[Exception], ErrorHandler],
    *,
    litellm: LiteLLMClient | None = None,
) -> FunctionApp:
    """A function's app: its routes plus the readiness route, access logs with the overhead
    header, API Gateway's body limit, its interface's error shapes, the shared lifespan, and its LiteLLM client in
    ``app.state.litellm`` (the real transport unless a test passes another)."""
    configure_logging()
    app = FunctionApp(routes, exception_handlers)
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


def freeze_init_heap() -> None:
    """Called once, at the end of a function module's import (Lambda's init): what it imported and
    built lives as long as the process, so it goes out of the cyclic collector's reach. Otherwise
    every full collection walks all of it, 15-70 ms on the request that happens to trigger it
    (README, Performance). Not in ``function_app``, which tests call many times. Cyclic garbage the
    imports left is frozen with it (once) rather than collected here, which would add a full
    collection to every cold start."""
    gc.freeze()
