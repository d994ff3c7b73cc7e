"""The real transport to LiteLLM: HTTP/1.1 on asyncio's sockets, parsed by httptools.

The gateway talks to one upstream (LiteLLM, or in AWS the internal ALB in front of it) over plain
HTTP/1.1, sends whole request bodies and relays answers as they arrive. A general client is more
than that needs, and on a relay its cost is the overhead itself: aiohttp took ~0.4 ms from our
``send`` to the request's write and ~0.3 ms from LiteLLM's head to the answer's return, both on
every request's critical path (in-process marks, 2026-12-01, README: Performance). Here a request
is one string built and one socket write, and an answer is parsed by httptools (the C parser
uvicorn already uses for our own requests), into a buffer the relay drains. The streaming
functions no longer import aiohttp at cold start.

A pool that survives its upstream. An idle connection lives ``GATEWAY_LITELLM_KEEPALIVE_S`` (4 s),
less than any peer keeps it open: LiteLLM's uvicorn (5 s by default, 905 s as deployed) and, in
AWS, the internal ALB (900 s idle timeout). So a peer closes an idle connection under us only when
it restarts or dies, and then:

* a pooled connection is checked just before it is reused: an idle HTTP/1.1 connection has
  nothing to read, so a readable one was closed (FIN) or reset (RST) by the peer. It is dropped,
  unused, and the request takes another pooled connection or a new one;
* a request whose connection was already closing when it was to be written (the loop saw the
  peer's close after the check) was not sent at all: it is sent once more, on a connection that
  passes the check;
* once a non-idempotent request (POST: a completion may cost money) was written, it is never
  sent again (RFC 9110 9.2.2): the caller gets a 502. An idempotent one (GET /key/info, DELETE)
  that went out on a reused connection which then closed without a byte of answer is sent once
  more on a new connection, as RFC 9112 9.3.1 allows.

Timeouts: ``GATEWAY_LITELLM_CONNECT_TIMEOUT_S`` bounds waiting for a free connection (at most
``GATEWAY_LITELLM_MAX_CONNECTIONS``) and opening one; ``GATEWAY_LITELLM_READ_TIMEOUT_S`` the silence
allowed before the head and between two reads of the body. Every failure here is an
``UpstreamError``, whose message names no address.
"""

from __future__ import annotations

import asyncio
import select
import weakref
from collections import deque
from collections.abc import AsyncIterator
from urllib.parse import quote, urlsplit

import httptools

from gateway_core.errors import UpstreamError, UpstreamTimeoutError, UpstreamUnavailableError
from gateway_core.http import UpstreamRequest
from gateway_core.settings import Settings, get_settings

__all__ = ["Http1Transport"]

# RFC 9110 9.2.2: the methods a client may send again after a failure.
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})  # Content-Length: 0 when empty, as clients send
# Reading from LiteLLM stops while this much of an answer waits for a slow client, and resumes
# once the relay has drained it below the low mark: memory per stream stays bounded.
_HIGH_WATER = 256 * 1024
_LOW_WATER = 64 * 1024
# A request body past this size is written after its head, not copied onto it.
_COPIED_BODY = 64 * 1024
# A request target as yarl sends it: reserved and unreserved characters and existing escapes kept,
# anything else (a space, a control character, non-ASCII) percent-encoded.
_TARGET_SAFE = "/?&=%:@!$'()*+,;~-._[]"


def _unreachable(reason: str) -> UpstreamUnavailableError:
    return UpstreamUnavailableError(f"LiteLLM is unreachable ({reason})")


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


class _Connection(asyncio.Protocol):
    """One keep-alive connection to LiteLLM, with at most one request in flight."""

    def __init__(self, pool: _Pool) -> None:
        self._pool = pool
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[None] | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._paused = False
        self.in_flight = False
        self._head_only = False
        self._informational = False
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self.head_done = False
        self.complete = False
        self.keep_alive = False
        self._body: deque[bytes] = deque()
        self._buffered = 0
        self.error: UpstreamError | None = None

    # --- the pool's side

    def start(self, head_only: bool) -> None:
        """A new request goes out on this connection."""
        self.in_flight = True
        self._head_only = head_only
        self.status, self.headers, self.head_done, self.complete = 0, [], False, False
        self.keep_alive, self.error = False, None

    def park(self, keepalive_s: float) -> None:
        self.in_flight = False
        self._idle_timer = self._pool.loop.call_later(keepalive_s, self.close)

    def unpark(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def close(self) -> None:
        """Drop the connection (a FIN; LiteLLM sees a client that left). Idempotent."""
        self.unpark()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    # --- the reader's side

    def take(self) -> bytes:
        """Every body byte received and not yet taken."""
        if not self._body:
            return b""
        data = self._body.popleft() if len(self._body) == 1 else b"".join(self._body)
        self._body.clear()
        self._buffered = 0
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return data

    def has_body_waiting(self) -> bool:
        return self._buffered > 0

    async def wait(self, timeout_s: float) -> None:
        """Until something happens (head, body bytes, the end, a failure) or ``timeout_s`` of silence."""
        if self.error is not None:
            raise self.error
        waiter = self._waiter = self._pool.loop.create_future()
        timer = self._pool.loop.call_later(timeout_s, self._time_out, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def _time_out(self, waiter: asyncio.Future[None]) -> None:
        if not waiter.done():
            waiter.set_exception(UpstreamTimeoutError("LiteLLM did not answer in time"))

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fail(self, error: UpstreamError) -> None:
        if self.complete or self.error is not None:
            return
        self.error = error
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(error)

    # --- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.in_flight or self.complete:  # bytes nobody asked for: the connection is unusable
            self.keep_alive = False
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(_unreachable("it switched protocols"))
            self.close()
        except httptools.HttpParserError:
            self._fail(_unreachable("malformed answer"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.unpark()
        self.keep_alive = False
        self._pool.forget(self)
        if not self.in_flight or self.complete:
            return
        if self.head_done and self._ends_at_close():
            self._end()  # an answer without a length ends when its connection does (RFC 9112 6.3)
        elif self.head_done:
            self._fail(_unreachable("answer cut short"))
        else:
            self._fail(_unreachable("connection closed before the answer"))

    def _ends_at_close(self) -> bool:
        return not any(name in ("content-length", "transfer-encoding") for name, _ in self.headers)

    # --- httptools callbacks (the parser goes on past a complete answer if more bytes came with it)

    def on_message_begin(self) -> None:
        if self.complete:  # an answer nobody asked for: the connection is out of step, never reused
            self.keep_alive = False

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.complete:
            return
        self.headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        if self.complete:
            return
        status = self._parser.get_status_code()
        if status < 200:  # 100 Continue and the like (never asked for): the answer follows
            self._informational = True
            self.headers = []
            return
        self.status = status
        self.head_done = True
        if self._head_only:  # an answer to HEAD has no body, whatever its length says
            self._end()
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self.complete:
            return
        self._body.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        if self.complete:
            return
        self.keep_alive = self._parser.should_keep_alive()
        self._end()

    def _end(self) -> None:
        self.complete = True
        if self._head_only:
            self.keep_alive = False  # the parser still expects the body its length announced
        self._wake()


class _Response:
    """LiteLLM's answer once its head arrived; the body is read on demand, once."""

    def __init__(self, pool: _Pool, connection: _Connection) -> None:
        self._pool = pool
        self._connection = connection
        self._released = False
        self.status_code = connection.status
        self.headers = connection.headers

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.iter_chunks()])

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        connection = self._connection
        read_timeout = self._pool.settings.litellm_read_timeout_s
        while True:
            chunk = connection.take()
            if chunk:
                yield chunk
            elif connection.complete:
                return
            else:
                await connection.wait(read_timeout)

    def at_eof(self) -> bool:
        return self._connection.complete and not self._connection.has_body_waiting()

    async def close(self, *, reuse: bool) -> None:
        if not self._released:  # once: a connection parked twice would carry two requests at once
            self._released = True
            self._pool.release(self._connection, reuse=reuse and self.at_eof())


class _Pool:
    """Keep-alive connections to LiteLLM for one event loop (most recently used first)."""

    def __init__(self, settings: Settings, loop: asyncio.AbstractEventLoop) -> None:
        self.settings = settings
        self.loop = loop
        base = urlsplit(settings.litellm_base_url)
        if base.scheme != "http" or not base.hostname:
            raise ValueError("GATEWAY_LITELLM_BASE_URL must be http://host[:port][/path]")
        self._host, self._port = base.hostname, base.port or 80
        self.authority = base.netloc
        self.prefix = base.path.rstrip("/")
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()  # idle or busy; those being opened are counted in _opening
        self._opening = 0
        self._slot_waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> tuple[_Connection, bool]:
        """A connection that passed the liveness check (reused) or a new one (not reused)."""
        connection = self._pooled()
        if connection is not None:
            return connection, True
        try:
            async with asyncio.timeout(self.settings.litellm_connect_timeout_s):
                while len(self._open) + self._opening >= self.settings.litellm_max_connections:
                    waiter = self.loop.create_future()
                    self._slot_waiters.append(waiter)
                    try:
                        await waiter
                    except asyncio.CancelledError:
                        if waiter.done() and not waiter.cancelled():
                            self._wake_one()  # the slot we were woken for goes to the next in line
                        raise
                    finally:
                        if waiter in self._slot_waiters:
                            self._slot_waiters.remove(waiter)
                    connection = self._pooled()
                    if connection is not None:
                        return connection, True
                return await self._connect(), False
        except TimeoutError:
            raise _unreachable("connect timed out") from None
        except OSError as exc:  # refused, reset, no route, DNS
            raise _unreachable(type(exc).__name__) from None

    def _pooled(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            connection.unpark()
            if not _closed_by_peer(connection.transport):
                return connection
            connection.close()  # nothing was written on it
            self.forget(connection)
        return None

    async def _connect(self) -> _Connection:
        self._opening += 1
        try:
            _, connection = await self.loop.create_connection(lambda: _Connection(self), self._host, self._port)
        finally:
            self._opening -= 1
            self._wake_one()
        self._open.add(connection)  # TCP_NODELAY: both event loops set it on every TCP connection
        return connection

    def release(self, connection: _Connection, *, reuse: bool) -> None:
        if reuse and connection.keep_alive and connection in self._open:
            connection.park(self.settings.litellm_keepalive_s)
            self._idle.append(connection)
            self._wake_one()
        else:
            connection.close()
            self.forget(connection)

    def forget(self, connection: _Connection) -> None:
        """``connection`` is closed or closing: it no longer counts against the limit."""
        if connection in self._open:
            self._open.discard(connection)
            if connection in self._idle:
                self._idle.remove(connection)
            self._wake_one()

    def _wake_one(self) -> None:
        while self._slot_waiters:
            waiter = self._slot_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def close(self) -> None:
        for connection in list(self._open):
            connection.close()
        self._idle.clear()


def _encode_head(pool: _Pool, request: UpstreamRequest) -> bytes:
    target = quote(pool.prefix + request.path, safe=_TARGET_SAFE)
    lines = [f"{request.method} {target} HTTP/1.1", f"host: {pool.authority}"]
    lines += [f"{name}: {value}" for name, value in request.headers]
    if request.content or request.method in _WITH_BODY:
        lines.append(f"content-length: {len(request.content)}")
    flat = "".join(lines)
    if "\n" in flat or "\r" in flat or "\0" in flat:  # never from a parsed request: a bug of ours
        raise ValueError("a line of the upstream request's head holds a line break or NUL")
    head = "\r\n".join(lines) + "\r\n\r\n"
    try:
        return head.encode("latin-1")  # the caller's headers were decoded so: their bytes go back as they came
    except UnicodeEncodeError:  # a value of ours beyond latin-1: that line in UTF-8, the others unchanged
        return b"".join(_encode_line(line) for line in lines) + b"\r\n"


def _encode_line(line: str) -> bytes:
    try:
        return line.encode("latin-1") + b"\r\n"
    except UnicodeEncodeError:
        return line.encode() + b"\r\n"


class Http1Transport:
    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings  # None: the process settings, read on first use
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pool] = weakref.WeakKeyDictionary()

    @property
    def settings(self) -> Settings:
        return self._settings or get_settings()

    def _pool(self) -> _Pool:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            pool = self._pools[loop] = _Pool(self.settings, loop)
        return pool

    async def send(self, request: UpstreamRequest) -> _Response:
        pool = self._pool()
        head = _encode_head(pool, request)
        retried = False
        while True:
            connection, reused = await pool.acquire()
            transport = connection.transport
            if transport is None or transport.is_closing():  # closed after the check: nothing was written
                pool.release(connection, reuse=False)
                if retried:
                    raise _unreachable("connection closed before the request")
                retried = True
                continue
            connection.start(head_only=request.method == "HEAD")
            if len(request.content) > _COPIED_BODY:
                transport.write(head)  # no copy of a large body
                transport.write(request.content)
            else:
                transport.write(head + request.content)
            try:
                while not connection.head_done:
                    await connection.wait(pool.settings.litellm_read_timeout_s)
            except UpstreamUnavailableError:
                pool.release(connection, reuse=False)
                resend = reused and request.method in _IDEMPOTENT
                if retried or not resend:
                    raise
                retried = True
                continue
            except BaseException:  # a timeout, or the caller left: LiteLLM sees the connection close
                pool.release(connection, reuse=False)
                raise
            return _Response(pool, connection)

    async def aclose(self) -> None:
        """Close the current loop's connections (app shutdown)."""
        pool = self._pools.pop(asyncio.get_running_loop(), None)
        if pool is not None:
            pool.close()
