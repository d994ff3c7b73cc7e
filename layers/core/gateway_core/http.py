"""The LiteLLM client every function talks through, and the seam a test replaces.

    LiteLLMClient            what handlers use: send() a request, call() a small management API
     └── Transport           how bytes reach LiteLLM (a protocol with two methods)
          ├── Http1Transport     the real one: pooled HTTP/1.1 connections per event loop (h1_transport)
          └── (tests)            an in-process fake LiteLLM behind the same protocol

Each app holds one client in ``app.state.litellm`` (``gateway_core.app_support``); handlers
reach it with ``litellm_client(request)``. Nothing here knows sockets: the transport maps its
failures onto ``gateway_core.errors.UpstreamError`` before they get here.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

from starlette.requests import HTTPConnection

from gateway_core import tracing
from gateway_core.errors import UpstreamError
from gateway_core.request_record import current_record, note_upstream_failure
from gateway_core.timing import waiting_on_litellm

__all__ = [
    "LiteLLMClient",
    "Transport",
    "TransportResponse",
    "Upstream",
    "UpstreamRequest",
    "litellm_client",
]

# LiteLLM takes this header as the call's id (litellm_call_id): it answers with it, logs it and
# keeps it in the spend record's metadata, so LiteLLM's side of a request joins ours.
CALL_ID_HEADER = "x-litellm-call-id"


@dataclass(frozen=True)
class UpstreamRequest:
    method: str
    path: str  # with its query string
    headers: list[tuple[str, str]]
    content: bytes


class TransportResponse(Protocol):
    """An answer whose status and headers arrived; the body is read on demand, once."""

    status_code: int
    headers: list[tuple[str, str]]  # lower-case names, in order, repeats kept

    async def read(self) -> bytes: ...

    def iter_chunks(self) -> AsyncIterator[bytes]: ...

    def at_eof(self) -> bool: ...

    async def close(self, *, reuse: bool) -> None:
        """Release the connection: back to the pool when ``reuse`` (body read whole), else dropped."""


class Transport(Protocol):
    async def send(self, request: UpstreamRequest) -> TransportResponse: ...

    async def aclose(self) -> None: ...


class Upstream:
    """LiteLLM's answer once its status and headers arrived; the body is read on demand."""

    def __init__(self, response: TransportResponse, span: tracing.Span | None = None) -> None:
        self._response = response
        self._span = span
        self.status_code = response.status_code
        self.headers = response.headers

    async def aread(self) -> bytes:
        with waiting_on_litellm():
            try:
                return await self._response.read()
            except UpstreamError:
                self._failed()
                raise

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.iter_chunks():
                yield chunk
        except UpstreamError:
            self._failed()
            raise

    def _failed(self) -> None:
        note_upstream_failure()
        if self._span is not None:
            self._span.fail()

    async def aiter_lines(self) -> AsyncIterator[str]:
        """Lines of any length (SSE chunks can be larger than any reader's line limit)."""
        pending = b""
        async for chunk in self.aiter_raw():
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.removesuffix(b"\r").decode()
        if pending:
            yield pending.decode()

    async def aclose(self) -> None:
        """Release the connection: back to the pool if the body was read, closed otherwise
        (which is how LiteLLM learns that a client went away mid-stream)."""
        try:
            await self._response.close(reuse=self._response.at_eof())
        finally:
            if self._span is not None:
                self._span.end()


class LiteLLMClient:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    async def send(self, request: UpstreamRequest) -> Upstream:
        """Send ``request`` to LiteLLM; return once its status and headers arrived.

        Within a request (``gateway_core.observability``), the request id goes along as the
        LiteLLM call id, and the call is timed as a trace subsegment until its body is done."""
        record = current_record.get()
        if record is not None:
            headers = [(k, v) for k, v in request.headers if k != CALL_ID_HEADER]
            headers.append((CALL_ID_HEADER, record.request_id))
            request = UpstreamRequest(request.method, request.path, headers, request.content)
        span = tracing.start_span("litellm")
        try:
            with waiting_on_litellm():
                response = await self.transport.send(request)
        except UpstreamError:
            note_upstream_failure()
            if span is not None:
                span.fail()
                span.end()
            raise
        if record is not None:
            record.upstream_status = response.status_code
        if span is not None:
            span.http(request.method, request.path.partition("?")[0], response.status_code)
        return Upstream(response, span)

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """A whole small LiteLLM call (management API) with ``token``: (status, JSON or error body)."""
        query = "?" + urlencode(params) if params else ""
        headers = [("authorization", f"Bearer {token}"), ("accept-encoding", "identity")]
        content = b""
        if body is not None:
            headers.append(("content-type", "application/json"))
            content = json.dumps(body).encode()
        upstream = await self.send(UpstreamRequest(method, path + query, headers, content))
        try:
            raw = await upstream.aread()
        finally:
            await upstream.aclose()
        try:
            return upstream.status_code, json.loads(raw)
        except ValueError:
            return upstream.status_code, {"error": {"message": raw.decode(errors="replace")}}

    async def aclose(self) -> None:
        await self.transport.aclose()


def litellm_client(connection: HTTPConnection) -> LiteLLMClient:
    """The client of the app serving ``connection`` (set by ``gateway_core.app_support``)."""
    client: LiteLLMClient = connection.app.state.litellm
    return client
