"""Token usage of OpenAI-style SSE streams, read while they are relayed byte for byte.

LiteLLM reports a stream's usage in a last chunk of its own (``"usage": {...}`` and a choice
with an empty delta) only when the request asks for it (``stream_options.include_usage``). So
the gateway asks for it on every stream (``with_stream_usage``) and, when the caller had not,
drops that one event on the way back: the caller sees exactly the stream it asked for, and the
metrics get the tokens.

Chunks are relayed as they come; the only per-chunk work is a byte search for ``"usage"``
(plus, while an event is split across chunks and usage must be stripped, holding its start
back until its end arrives). The usage object is parsed on its own, at the end.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

from gateway_core.request_record import note_upstream_failure, note_usage, usage_from_json_tail

__all__ = ["SseUsage", "asking_for_usage", "is_usage_only", "must_ask_for_usage", "with_stream_usage"]

_USAGE = b'"usage"'
_EVENT_END = b"\n\n"
_TAIL_CHUNKS = 8  # enough to hold the last events of a stream, whatever the chunking
_IN_BAND_ERROR = (b'data: {"error"', b'data:{"error"')


def must_ask_for_usage(body: dict[str, Any]) -> bool:
    """A stream whose caller did not ask for its usage chunk (a malformed ``stream_options`` is
    left alone, for LiteLLM to refuse)."""
    options = body.get("stream_options", {})
    return body.get("stream") is True and isinstance(options, dict) and options.get("include_usage") is not True


def is_usage_only(chunk: dict[str, Any]) -> bool:
    """The chunk LiteLLM adds for ``include_usage``: usage, and no content, call or finish reason."""
    if not isinstance(chunk.get("usage"), dict):
        return False
    choices = chunk.get("choices") or []
    return all(isinstance(c, dict) and not c.get("delta") and not c.get("finish_reason") for c in choices)


def asking_for_usage(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "stream_options": {**body.get("stream_options", {}), "include_usage": True}}


def with_stream_usage(raw: bytes, body: dict[str, Any]) -> bytes | None:
    """``raw`` (the JSON object ``body`` was parsed from) also asking for the usage chunk, or None
    when it cannot be added by splicing (then re-serialize ``body``). Splicing keeps the caller's
    bytes, and costs a copy instead of a JSON encode of a possibly long prompt."""
    if "stream_options" in body or not body:
        return None
    start = raw.find(b"{")
    return raw[: start + 1] + b'"stream_options":{"include_usage":true},' + raw[start + 1 :]


class SseUsage:
    """Watches one relayed SSE stream; ``strip`` drops the usage-only event the caller did not ask for."""

    __slots__ = ("_pending", "_strip", "_tail", "_usage_seen")

    def __init__(self, *, strip: bool) -> None:
        self._strip = strip
        self._pending = b""
        self._tail: deque[bytes] = deque(maxlen=_TAIL_CHUNKS)
        self._usage_seen = False

    def relay(self, chunk: bytes) -> bytes:
        """What to pass on for ``chunk`` (all of it, unless stripping holds or drops a part)."""
        if not self._strip:
            self._tail.append(chunk)
            return chunk
        if not self._pending and chunk.endswith(_EVENT_END) and _USAGE not in chunk:
            self._tail.append(chunk)
            return chunk
        data = self._pending + chunk
        cut = data.rfind(_EVENT_END)
        if cut < 0:
            self._pending = data
            return b""
        complete, self._pending = data[: cut + 2], data[cut + 2 :]
        self._tail.append(complete)
        if _USAGE not in complete:
            return complete
        kept = [event + _EVENT_END for event in complete.split(_EVENT_END)[:-1] if not self._usage_only(event)]
        return b"".join(kept)

    def _usage_only(self, event: bytes) -> bool:
        if _USAGE not in event or not event.startswith(b"data:"):
            return False
        try:
            chunk = json.loads(event[5:])
        except ValueError:
            return False
        if not isinstance(chunk, dict) or not isinstance(chunk.get("usage"), dict):
            return False
        note_usage(chunk["usage"])
        self._usage_seen = True
        return is_usage_only(chunk)

    def finish(self) -> bytes:
        """At the end of the stream: note its usage and any in-band error; return held bytes."""
        rest, self._pending = self._pending, b""
        tail = b"".join(self._tail) + rest
        if not self._usage_seen:
            note_usage(usage_from_json_tail(tail))
        if any(marker in tail for marker in _IN_BAND_ERROR):
            note_upstream_failure()
        return rest
