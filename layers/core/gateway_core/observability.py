"""Structured logs for every function: one JSON line per request, never keys or content.

Level from POWERTOOLS_LOG_LEVEL (default INFO), service name from POWERTOOLS_SERVICE_NAME, as
Powertools defines them. Prompts and completions are logged only with GATEWAY_LOG_CONTENT=true.
"""

from __future__ import annotations

import logging
import os
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AccessLogMiddleware", "configure_logging", "log"]

log = logging.getLogger("gateway")


def configure_logging() -> None:
    if log.handlers:
        return
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    handler = logging.StreamHandler()
    handler.setFormatter(LambdaPowertoolsFormatter(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "gateway")))
    log.addHandler(handler)
    log.setLevel(os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO").upper())
    log.propagate = False


class AccessLogMiddleware:
    """Logs method, path, status and duration of each HTTP request (pure ASGI: streams untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
