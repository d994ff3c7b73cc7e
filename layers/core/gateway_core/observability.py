"""What every request leaves behind: one JSON log line, one EMF metrics line, its trace, and
the ``x-gateway-overhead-ms`` / ``x-gateway-request-id`` response headers.

``AccessLogMiddleware`` (pure ASGI: streams pass untouched) opens the request's record
(``gateway_core.request_record``), its overhead clock (``gateway_core.timing``) and its trace
(``gateway_core.tracing``), and at the end writes the log line and the metrics
(``gateway_core.metrics``). Under the Lambda Web Adapter there is no handler to decorate, so
metrics are flushed here, once per request.

The request id is API Gateway's (``$context.requestId``, the id in the API's access log), else
a fresh one; it travels to LiteLLM as ``x-litellm-call-id`` so LiteLLM's logs and spend records
carry it too. Level from POWERTOOLS_LOG_LEVEL (default INFO). Keys are never logged; prompts
and completions only with GATEWAY_LOG_CONTENT=true, redacted (``gateway_core.content_log``).
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway_core import tracing
from gateway_core.content_log import BodyCapture
from gateway_core.metrics import Outcome, classify, emit
from gateway_core.request_record import RequestRecord, current_record
from gateway_core.settings import get_settings
from gateway_core.timing import OVERHEAD_HEADER, RequestClock, current_clock

__all__ = ["REQUEST_ID_HEADER", "AccessLogMiddleware", "configure_logging", "current_request_id", "log"]

log = logging.getLogger("gateway")

REQUEST_ID_HEADER = "x-gateway-request-id"
_STREAM_TYPES = (b"text/event-stream", b"application/vnd.amazon.eventstream")
_API_GATEWAY_REQUEST_ID = re.compile(rb'"requestId"\s*:\s*"([^"]{1,128})"')
_PARAM_CONVERTER = re.compile(r"\{(\w+):\w+\}")
_route_templates: dict[str, str] = {}


def configure_logging() -> None:
    if log.handlers:
        return
    from gateway_core.log_line import LineFormatter  # Powertools' line format, for less CPU

    handler = logging.StreamHandler()
    handler.setFormatter(LineFormatter(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "gateway")))
    log.addHandler(handler)
    log.setLevel(os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO").upper())
    log.propagate = False


def current_request_id() -> str | None:
    record = current_record.get()
    return record.request_id if record is not None else None


def _request_headers(scope: Scope) -> tuple[str, str | None]:
    """(request id, x-amzn-trace-id) from API Gateway's context: mangum's event, or the
    headers the Lambda Web Adapter adds; a fresh id when neither is there (local runs)."""
    event = scope.get("aws.event")
    if isinstance(event, dict):
        request_id = (event.get("requestContext") or {}).get("requestId")
        if isinstance(request_id, str) and request_id:
            headers = {k.lower(): v for k, v in (event.get("headers") or {}).items() if isinstance(k, str)}
            return request_id, headers.get("x-amzn-trace-id")
    request_id, trace = None, None
    for name, value in scope["headers"]:
        if name == b"x-amzn-request-context":
            match = _API_GATEWAY_REQUEST_ID.search(value)
            request_id = match.group(1).decode() if match else None
        elif name == b"x-amzn-trace-id":
            trace = value.decode("latin-1")
    return request_id or uuid.uuid4().hex, trace


def _route(scope: Scope) -> str:
    """The matched route's template, e.g. /bedrock/model/{modelId}/converse (bounded: never the raw path)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return "unmatched"
    template = _route_templates.get(path)
    if template is None:
        template = _route_templates[path] = _PARAM_CONVERTER.sub(r"{\1}", path)
    return template


class AccessLogMiddleware:
    """Logs, meters and traces each HTTP request, and tells the client our overhead and the
    request id in headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log_content = get_settings().log_content

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        clock = RequestClock()
        clock_token = current_clock.set(clock)
        request_id, trace_header = _request_headers(scope)
        record = RequestRecord(request_id)
        record_token = current_record.set(record)
        service: str = getattr(scope["app"].state, "service", "gateway") if "app" in scope else "gateway"
        trace = tracing.begin_request(service, scope["method"], trace_header, "aws.event" in scope)
        status, overhead, first_byte, stream, content_type = 500, 0.0, 0.0, False, b""
        request_body = response_body = None
        if self.log_content:
            request_body, response_body = BodyCapture(), BodyCapture()
            receive = _capturing(receive, request_body)

        async def send_and_observe(message: Message) -> None:
            nonlocal status, overhead, first_byte, stream, content_type
            if message["type"] == "http.response.start":
                status, overhead = message["status"], clock.overhead_ms()
                headers = list(message.get("headers", []))
                for name, value in headers:
                    if name == b"content-type":
                        content_type = value
                        stream = value.startswith(_STREAM_TYPES)
                headers.append((OVERHEAD_HEADER.encode(), f"{overhead:.2f}".encode()))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body" and not first_byte and message.get("body"):
                first_byte = time.perf_counter()
                if response_body is not None:
                    response_body.add(message["body"])
            elif response_body is not None and message["type"] == "http.response.body":
                response_body.add(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_and_observe)
        finally:
            current_clock.reset(clock_token)
            current_record.reset(record_token)
            ended = time.perf_counter()
            record.route = _route(scope)
            first_byte_ms = round((first_byte - started) * 1000, 2) if stream and first_byte else None
            outcome = Outcome(service, status, round((ended - started) * 1000, 2), round(overhead, 2), first_byte_ms)
            emit(record, outcome)
            error = classify(status, record)
            if trace is not None:
                annotations: dict[str, str | int | float | bool] = {"route": record.route, "request_id": request_id}
                if record.model:
                    annotations["model"] = record.model
                if error:
                    annotations["error_class"] = error
                trace.finish(scope["method"], scope["path"], status, annotations)
            fields = _log_fields(scope, record, outcome, error)
            if trace is not None:
                fields["trace_id"] = trace.trace_id
            if request_body is not None and response_body is not None:
                fields["content"] = {
                    "request": request_body.render(),
                    "response": response_body.render(content_type.decode("latin-1")),
                }
            log.info("request", extra=fields)


def _log_fields(scope: Scope, record: RequestRecord, outcome: Outcome, error: str | None) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "request_id": record.request_id,
        "method": scope["method"],
        "route": record.route,
        "path": scope["path"],
        "status": outcome.status,
        "duration_ms": outcome.latency_ms,
        "overhead_ms": outcome.overhead_ms,
    }
    if outcome.first_byte_ms is not None:
        fields["ttfb_ms"] = outcome.first_byte_ms
    if record.model:
        fields["model"] = record.model
    if record.team:
        fields["team"] = record.team
    if error:
        fields["error_class"] = error
    if record.upstream_status is not None:
        fields["litellm_status"] = record.upstream_status
    if record.usage is not None:
        usage = record.usage
        fields["tokens"] = {
            "input": usage.input_tokens,
            "output": usage.output_tokens,
            "cache_read": usage.cache_read_tokens,
            "cache_write": usage.cache_write_tokens,
        }
    if record.counters:
        fields.update(record.counters)
    if record.jwt_rejection:
        fields["jwt_rejection"] = record.jwt_rejection
    return fields


def _capturing(receive: Receive, capture: BodyCapture) -> Receive:
    async def receive_and_keep() -> Message:
        message = await receive()
        if message["type"] == "http.request":
            capture.add(message.get("body", b""))
        return message

    return receive_and_keep
