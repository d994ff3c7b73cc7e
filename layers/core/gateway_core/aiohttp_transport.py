"""The real transport to LiteLLM: aiohttp, one pooled session per event loop.

aiohttp, because a gateway's CPU per request is its overhead: relaying a chat completion costs
~0.1-0.2 ms of client CPU with aiohttp against 0.7-1.1 ms with httpx (bench/, same machine),
whose connection pool checks every idle connection on every request. The session is created
lazily on first use, not per request, and bound to the running event loop (sessions cannot
cross loops): one under uvicorn or the Lambda Web Adapter; mangum reuses one loop too.

A pool that survives its upstream. An idle pooled connection lives ``GATEWAY_LITELLM_KEEPALIVE_S``
(4 s), less than any peer keeps it open: LiteLLM's uvicorn (5 s by default, 905 s as deployed)
and, in AWS, the internal ALB (900 s idle timeout). So a peer closes an idle connection under us
only when it restarts or dies, and then:

* a pooled connection is checked just before it is reused: an idle HTTP/1.1 connection has
  nothing to read, so a readable one was closed (FIN) or reset (RST) by the peer. It is dropped,
  unused, and the request takes another pooled connection or a new one;
* a request whose body refused to go out because its connection was already closing (the loop
  saw the peer's close after the check, before the write) was not sent at all: it is sent once
  more, on a connection that passes the check;
* once any byte of a non-idempotent request (POST: a completion may cost money) was written, it
  is never sent again (RFC 9110 9.2.2): the caller gets a 502. Idempotent ones (GET /key/info,
  DELETE) are retried once by aiohttp itself on a connection failure (client.py,
  ``retry_persistent_connection``), which is what RFC 9112 9.3.1 allows.

This is the only module that knows aiohttp: its failures become ``UpstreamError`` here.
"""

from __future__ import annotations

import asyncio
import select
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractStreamWriter
from aiohttp.client_proto import ResponseHandler
from aiohttp.connector import Connection
from aiohttp.payload import BytesPayload
from aiohttp.tracing import Trace

from gateway_core.errors import UpstreamTimeoutError, UpstreamUnavailableError
from gateway_core.http import UpstreamRequest
from gateway_core.settings import Settings, get_settings

__all__ = ["AiohttpTransport", "LiveConnector", "map_aiohttp_errors"]


@contextmanager
def map_aiohttp_errors() -> Iterator[None]:
    """Turn transport failures talking to LiteLLM into UpstreamError subclasses."""
    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:  # nothing answered the connect (or no pooled slot)
        raise UpstreamUnavailableError("LiteLLM is unreachable (connect timed out)") from exc
    except TimeoutError as exc:  # accepted, then silent longer than the read timeout
        raise UpstreamTimeoutError("LiteLLM did not answer in time") from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise UpstreamUnavailableError(f"LiteLLM is unreachable ({type(exc).__name__})") from exc


@dataclass
class _Attempt:
    """What one try of a request learned on its way out."""

    reused: bool = False  # it went out on a pooled connection
    nothing_written: bool = False  # its body refused to be written: no byte of it left


_attempt: ContextVar[_Attempt | None] = ContextVar("gateway_upstream_attempt", default=None)


class _NothingWritten(Exception):
    """Raised inside aiohttp's body writer; aiohttp fails the request with a connection error."""


def _closed_by_peer(transport: asyncio.BaseTransport | None) -> bool:
    """Whether an idle pooled connection was closed by the other side (or is closing here)."""
    if transport is None or transport.is_closing():
        return True
    sock = transport.get_extra_info("socket")
    if sock is None:
        return False
    poller = select.poll()  # not select(): descriptors above 1024 are legal here
    poller.register(sock.fileno(), select.POLLIN)  # POLLHUP and POLLERR are always reported
    return bool(poller.poll(0))


class LiveConnector(aiohttp.TCPConnector):
    """aiohttp's pool, but a pooled connection is only handed out after the check above."""

    def __init__(self, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self._handed_out: weakref.WeakSet[ResponseHandler] = weakref.WeakSet()

    async def connect(
        self, req: aiohttp.ClientRequest, traces: list[Trace], timeout: aiohttp.ClientTimeout
    ) -> Connection:
        attempt = _attempt.get()
        while True:
            connection = await super().connect(req, traces, timeout)
            protocol = connection.protocol
            reused = protocol is not None and protocol in self._handed_out
            if reused and _closed_by_peer(connection.transport):
                connection.close()  # nothing was written on it; the loop takes the next one
                continue
            if protocol is not None:
                self._handed_out.add(protocol)
            if attempt is not None:
                attempt.reused = reused
            return connection


class _GuardedBody(BytesPayload):
    """The request body. aiohttp buffers the request line and headers and writes them with the
    first body bytes, so a body that refuses to be written means nothing of the request left."""

    def __init__(self, content: bytes, attempt: _Attempt) -> None:
        super().__init__(content)
        self._attempt = attempt

    async def write_with_length(self, writer: AbstractStreamWriter, content_length: int | None) -> None:
        transport = getattr(writer, "transport", None)
        if transport is None or transport.is_closing():
            self._attempt.nothing_written = True
            raise _NothingWritten
        await super().write_with_length(writer, content_length)


class _Unsent(Exception):
    """This try failed before any byte of the request was written: it may be sent again."""


class _AiohttpResponse:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status_code = response.status
        self.headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in response.raw_headers]

    async def read(self) -> bytes:
        with map_aiohttp_errors():
            return await self._response.read()

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        with map_aiohttp_errors():
            async for chunk in self._response.content.iter_any():
                yield chunk

    def at_eof(self) -> bool:
        return self._response.content.at_eof()

    async def close(self, *, reuse: bool) -> None:
        if reuse:
            self._response.release()
        else:
            self._response.close()


class AiohttpTransport:
    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings  # None: the process settings, read on first use
        self._sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def settings(self) -> Settings:
        return self._settings or get_settings()

    def _build_session(self) -> aiohttp.ClientSession:
        settings = self.settings
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=settings.litellm_connect_timeout_s,  # includes waiting for a pooled connection
            sock_connect=settings.litellm_connect_timeout_s,
            sock_read=settings.litellm_read_timeout_s,  # silence allowed between two reads
        )
        connector = LiveConnector(
            limit=settings.litellm_max_connections, keepalive_timeout=settings.litellm_keepalive_s, ttl_dns_cache=60
        )
        # trust_env=False: no proxy variables or netrc between us and the private ALB. Bodies are
        # relayed as they come, so nothing is decompressed on the way.
        return aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            trust_env=False,
            auto_decompress=False,
            skip_auto_headers=("User-Agent",),
        )

    def _session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            session = self._sessions[loop] = self._build_session()
        return session

    async def send(self, request: UpstreamRequest) -> _AiohttpResponse:
        url = self.settings.litellm_base_url + request.path
        with map_aiohttp_errors():
            try:
                return await self._try(request, url)
            except _Unsent:
                return await self._try(request, url, last=True)

    async def _try(self, request: UpstreamRequest, url: str, *, last: bool = False) -> _AiohttpResponse:
        attempt = _Attempt()
        token = _attempt.set(attempt)
        try:
            body = _GuardedBody(request.content, attempt) if request.content else None
            response = await self._session().request(
                request.method, url, headers=request.headers, data=body, allow_redirects=False
            )
        except aiohttp.ClientConnectionError as exc:
            if not last and attempt.reused and attempt.nothing_written and not isinstance(exc, TimeoutError):
                raise _Unsent from exc
            raise
        finally:
            _attempt.reset(token)
        return _AiohttpResponse(response)

    async def aclose(self) -> None:
        """Close the current loop's session (app shutdown)."""
        session = self._sessions.pop(asyncio.get_running_loop(), None)
        if session is not None:
            await session.close()
