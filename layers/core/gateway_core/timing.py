"""How long our code spent on a request, not counting the wait for LiteLLM.

The access-log middleware opens a per-request account; every call that waits on LiteLLM runs
inside ``waiting_on_litellm()``; the difference becomes the ``x-gateway-overhead-ms`` response
header (at the moment the response starts: for a stream, everything before its first byte).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["OVERHEAD_HEADER", "RequestClock", "waiting_on_litellm"]

OVERHEAD_HEADER = "x-gateway-overhead-ms"
_clock = time.perf_counter  # tests replace it with one they move


class RequestClock:
    __slots__ = ("started", "waited")

    def __init__(self) -> None:
        self.started = _clock()
        self.waited = 0.0

    def overhead_ms(self) -> float:
        return max(0.0, (_clock() - self.started - self.waited) * 1000)


current_clock: ContextVar[RequestClock | None] = ContextVar("gateway_request_clock", default=None)


@contextmanager
def waiting_on_litellm() -> Iterator[None]:
    clock = current_clock.get()
    started = _clock()
    try:
        yield
    finally:
        if clock is not None:
            clock.waited += _clock() - started
