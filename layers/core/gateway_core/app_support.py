"""What every function app shares: its lifespan, its readiness route and its Lambda handler."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway_core.http import close_clients

__all__ = ["health", "lambda_handler", "lifespan"]

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield
    await close_clients()


async def health(_: Request) -> Response:
    """Readiness for the Lambda Web Adapter (AWS_LWA_READINESS_CHECK_PATH); not an API route."""
    return JSONResponse({"status": "ok"})


def lambda_handler(app: FastAPI) -> LambdaHandler:
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
