"""Forward a request to LiteLLM as the caller made it, and relay the answer back unchanged.

The caller's own credentials travel with the request, so LiteLLM enforces that key's budgets,
limits and model access. Status codes and error bodies come back as LiteLLM sent them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from starlette.requests import Request
from starlette.responses import Response

from gateway_core.errors import UpstreamError
from gateway_core.http import LiteLLMClient, Upstream, UpstreamRequest
from gateway_core.internals import public_headers
from gateway_core.request_record import current_record, note_usage, usage_from_json_tail
from gateway_core.stream_usage import SseUsage
from gateway_core.streaming import StreamingResponse

__all__ = ["forward", "read_upstream", "relay_headers", "relay_whole", "upstream_request", "with_relayed_headers"]

# Hop-by-hop headers (RFC 9110 §7.6.1) plus those the transport recomputes.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
# Lambda Web Adapter's context headers: large, internal, and of no use to LiteLLM.
_INTERNAL = frozenset({"x-amzn-request-context", "x-amzn-lambda-context"})
_NOT_FORWARDED = _HOP_BY_HOP | _INTERNAL | {"accept-encoding"}

ErrorEvent = Callable[[UpstreamError], bytes]


def upstream_request(request: Request, content: bytes, path: str | None = None) -> UpstreamRequest:
    """The request to send to LiteLLM: same method, path, query and end-to-end headers.

    Read from the ASGI scope, not through ``request.headers`` and ``request.url``: those build a
    header map and a whole URL (host, port, scheme, parsed back) on the way of every request."""
    scope = request.scope
    headers = [(k, v) for k, v in _decoded(scope["headers"]) if k not in _NOT_FORWARDED]
    # identity: we relay bytes as they arrive, so nothing may be compressed in between.
    headers.append(("accept-encoding", "identity"))
    if path is None:  # as ``request.url.path`` gives it: a decoded ?, # or \ must not end the path
        path = scope["path"].replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")
    query: bytes = scope.get("query_string", b"")
    return UpstreamRequest(request.method, path + (f"?{query.decode('latin-1')}" if query else ""), headers, content)


def _decoded(raw: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """ASGI headers as Starlette's ``Headers.items()`` gives them (names arrive lower-case)."""
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in raw]


# Not relayed back: the function's own server (uvicorn, as Lambda runs it) sets its own ``date``;
# LiteLLM's would make two (RFC 9110 allows one), and would say when LiteLLM answered, not us.
_NOT_RELAYED = _HOP_BY_HOP | {"content-encoding", "date"}


def relay_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """LiteLLM's end-to-end headers (order and repeats kept), without its internal ones
    (``gateway_core.internals``)."""
    return public_headers((k, v) for k, v in headers if k not in _NOT_RELAYED)


def with_relayed_headers(response: Response, upstream: Upstream) -> Response:
    """``response`` with LiteLLM's relayed headers added to its own, as they go on the wire: not
    through a header map, which would merge repeats and encode each header again."""
    response.raw_headers += [
        (name.encode("latin-1"), value.encode("latin-1")) for name, value in relay_headers(upstream.headers)
    ]
    return response


async def read_upstream(response: Upstream) -> bytes:
    """Read an opened answer whole, then release its connection."""
    try:
        return await response.aread()
    finally:
        await response.aclose()


async def relay_whole(response: Upstream) -> Response:
    """An opened answer read whole and returned as LiteLLM sent it (status, headers, body)."""
    body = await read_upstream(response)
    if 200 <= response.status_code < 300 and current_record.get() is not None:
        note_usage(usage_from_json_tail(body))  # for the metrics; the body goes back untouched
    return with_relayed_headers(Response(body, status_code=response.status_code), response)


async def forward(
    client: LiteLLMClient,
    upstream: UpstreamRequest,
    *,
    stream: bool,
    error_event: ErrorEvent | None = None,
    strip_usage: bool = False,
) -> Response:
    """Send ``upstream`` through ``client`` and return LiteLLM's answer.

    With ``stream``, a successful answer is relayed chunk by chunk as LiteLLM produces it; a
    failure after the first byte ends the stream with ``error_event(error)`` instead of a silent
    cut. Non-2xx answers are always read whole and returned as they are. ``strip_usage``: the
    gateway asked for the usage chunk the caller did not (``gateway_core.stream_usage``).
    """
    response = await client.send(upstream)
    if not stream or not 200 <= response.status_code < 300:
        return await relay_whole(response)
    # Only requests being observed (and streams whose usage chunk must go) need the usage watch.
    usage = SseUsage(strip=strip_usage) if strip_usage or current_record.get() is not None else None
    return with_relayed_headers(StreamingResponse(_relay(response, error_event, usage), response.status_code), response)


async def _relay(response: Upstream, error_event: ErrorEvent | None, usage: SseUsage | None) -> AsyncIterator[bytes]:
    # Runs until LiteLLM ends the stream; a client disconnect cancels it, and the finally
    # clause then closes the upstream connection so LiteLLM stops generating.
    try:
        if usage is None:
            async for chunk in response.aiter_raw():
                yield chunk
            return
        async for chunk in response.aiter_raw():
            relayed = usage.relay(chunk)
            if relayed:
                yield relayed
        rest = usage.finish()
        if rest:
            yield rest
    except UpstreamError as error:
        if error_event is not None:
            yield error_event(error)
    finally:
        await response.aclose()
