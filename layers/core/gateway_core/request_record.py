"""What one request did, noted while it runs and read once when it ends.

The access middleware (``gateway_core.observability``) opens a record per request; handlers,
the LiteLLM client and the relays note what they learn (model, team, token usage, upstream
failures, counters); at the end the middleware turns the record into one log line, one EMF
metrics line and the request's trace annotations. Outside a request (unit tests calling a
helper directly) ``current_record()`` is None and every ``note_*`` is a no-op.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "RequestRecord",
    "Usage",
    "count",
    "current_record",
    "note_model",
    "note_team",
    "note_upstream_failure",
    "note_usage",
    "usage_from_json_tail",
]


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    @classmethod
    def from_openai(cls, usage: Any) -> Usage | None:
        """LiteLLM's usage object (OpenAI's, plus LiteLLM's cache fields); None if it is not one."""
        if not isinstance(usage, dict):
            return None
        details = usage.get("prompt_tokens_details")
        cached = details.get("cached_tokens") if isinstance(details, dict) else None
        return cls(
            _tokens(usage.get("prompt_tokens")),
            _tokens(usage.get("completion_tokens")),
            _tokens(cached if cached is not None else usage.get("cache_read_input_tokens")),
            _tokens(usage.get("cache_creation_input_tokens")),
        )


def _tokens(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


@dataclass(slots=True)
class RequestRecord:
    request_id: str
    route: str = "unmatched"  # the route template (bounded), never the raw path
    model: str | None = None  # the model the caller asked for (bounded when it becomes a dimension)
    team: str | None = None
    upstream_status: int | None = None  # LiteLLM's last answer status
    upstream_failed: bool = False  # LiteLLM unreachable, silent, cut off, or an in-band error
    usage: Usage | None = None
    counters: dict[str, float] = field(default_factory=dict)  # e.g. HistoryTurnsStored
    jwt_rejection: str | None = None  # why an Okta token was refused (a short fixed code)


current_record: ContextVar[RequestRecord | None] = ContextVar("gateway_request_record", default=None)


def note_model(model: Any) -> None:
    record = current_record.get()
    if record is not None and isinstance(model, str) and model:
        record.model = model


def note_team(team: Any) -> None:
    record = current_record.get()
    if record is not None and isinstance(team, str) and team:
        record.team = team


def note_usage(usage: Any) -> None:
    """Record LiteLLM's usage object; the last one reported wins (a stream's final chunk)."""
    record = current_record.get()
    if record is not None:
        parsed = Usage.from_openai(usage)
        if parsed is not None:
            record.usage = parsed


def note_upstream_failure() -> None:
    record = current_record.get()
    if record is not None:
        record.upstream_failed = True


def count(name: str, value: float = 1) -> None:
    record = current_record.get()
    if record is not None:
        record.counters[name] = record.counters.get(name, 0) + value


_decoder = json.JSONDecoder()
_USAGE_KEY = b'"usage"'


def usage_from_json_tail(data: bytes) -> Any:
    """The last ``"usage": {...}`` object in ``data`` (a JSON body, or the end of an SSE stream),
    parsed on its own: the rest of the document is never decoded, so a long answer costs
    nothing extra. None when there is none (or it is ``null``)."""
    at = data.rfind(_USAGE_KEY)
    while at >= 0:
        text = data[at + len(_USAGE_KEY) :].decode(errors="replace").lstrip()
        if text.startswith(":"):
            try:
                value, _ = _decoder.raw_decode(text[1:].lstrip())
            except ValueError:
                value = None
            if isinstance(value, dict):
                return value
        at = data.rfind(_USAGE_KEY, 0, at)
    return None
