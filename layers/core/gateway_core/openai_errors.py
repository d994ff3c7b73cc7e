"""Render errors in OpenAI's envelope, for the OpenAI-compatible routes.

{"error": {"message": "...", "type": "...", "param": null, "code": "..."}}
"""

from __future__ import annotations

import json
import logging

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway_core.app_support import ErrorHandler
from gateway_core.errors import GatewayError, UpstreamError, openai_error_body

__all__ = ["install_openai_error_handlers", "openai_error_handlers", "openai_error_response", "sse_error_event"]

log = logging.getLogger("gateway")


def openai_error_response(error: GatewayError) -> JSONResponse:
    return JSONResponse(openai_error_body(error), status_code=error.status_code)


def sse_error_event(error: UpstreamError) -> bytes:
    """The in-band error that ends an SSE stream which already started (the OpenAI SDK raises it)."""
    return b"data: " + json.dumps(openai_error_body(error)).encode() + b"\n\n"


async def _gateway_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    if isinstance(exc, UpstreamError):
        log.warning("upstream failure: %s", exc.message)
    return openai_error_response(exc)


async def _unexpected(_: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return openai_error_response(GatewayError("Internal gateway error"))


def openai_error_handlers() -> dict[type[Exception], ErrorHandler]:
    return {GatewayError: _gateway_error, Exception: _unexpected}


def install_openai_error_handlers(app: Starlette) -> None:
    for error_class, handler in openai_error_handlers().items():
        app.add_exception_handler(error_class, handler)
