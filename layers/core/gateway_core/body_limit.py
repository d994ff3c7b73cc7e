"""Request bodies stop at API Gateway's limit (10 MB), locally as in AWS, in the route's shape.

A pure ASGI middleware wraps ``receive``: a declared ``content-length`` over the limit, or a
streamed body that grows past it, raises ``PayloadTooLargeError`` from inside the route's own
``await request.body()``, so each interface's error handler renders the 413 in its shape, and no
more than the limit is ever held in memory.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway_core.errors import PayloadTooLargeError

__all__ = ["MAX_BODY_BYTES", "BodyLimitMiddleware", "limited_receive"]

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway REST APIs: 10 MB payloads


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"Request body is larger than {limit} bytes, the gateway's limit")


def limited_receive(scope: Scope, receive: Receive, limit: int = MAX_BODY_BYTES) -> Receive:
    declared = next((v for k, v in scope.get("headers", []) if k == b"content-length"), None)
    received = 0

    async def receive_within_limit() -> Message:
        nonlocal received
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise _too_large(limit)
        return message

    return receive_within_limit


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            receive = limited_receive(scope, receive, self.limit)
        await self.app(scope, receive, send)
