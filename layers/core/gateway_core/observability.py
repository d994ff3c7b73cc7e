"""Structured logs for every function: one JSON line per request, never keys or content; and
the ``x-gateway-overhead-ms`` header on every response (``gateway_core.timing``).

Level from POWERTOOLS_LOG_LEVEL (default INFO), service name from POWERTOOLS_SERVICE_NAME, as
Powertools defines them. Prompts and completions are logged only with GATEWAY_LOG_CONTENT=true.
"""

from __future__ import annotations

import logging
import os
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway_core.timing import OVERHEAD_HEADER, RequestClock, current_clock

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
    """Logs method, path, status, duration and overhead of each HTTP request, and tells the
    client our overhead in a header (pure ASGI: streams pass untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        clock = RequestClock()
        token = current_clock.set(clock)
        status, overhead = 500, 0.0

        async def send_with_status(message: Message) -> None:
            nonlocal status, overhead
            if message["type"] == "http.response.start":
                status, overhead = message["status"], clock.overhead_ms()
                headers = list(message.get("headers", []))
                headers.append((OVERHEAD_HEADER.encode(), f"{overhead:.2f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            current_clock.reset(token)
            log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "overhead_ms": round(overhead, 2),
                },
            )
