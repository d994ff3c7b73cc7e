"""Opt-in content logging (GATEWAY_LOG_CONTENT=true): prompts and completions in the request's
log line, with every key, token and password redacted first.

Off by default, and then nothing here runs. On, the access middleware keeps the first
``LIMIT`` bytes of the request and response bodies; JSON is redacted field by field (a field
named like a secret loses its value), and any string that looks like a LiteLLM key (``sk-…``),
a bearer token or a JWT is masked wherever it appears. Headers are never logged.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["LIMIT", "REDACTED", "BodyCapture", "redact", "redact_text"]

LIMIT = 32 * 1024  # per direction; CloudWatch Logs takes events up to 256 KiB
REDACTED = "[redacted]"

_SECRET_NAMES = frozenset(
    {"key", "api_key", "apikey", "token", "authorization", "password", "secret", "master_key", "x-api-key"}
)
_SECRET_SUFFIXES = ("_key", "_token", "_password", "_secret")
_SECRET_TEXT = re.compile(
    r"\bsk-[A-Za-z0-9_\-]{6,}"  # LiteLLM and OpenAI-style keys
    r"|\b[Bb]earer\s+[A-Za-z0-9._~+/=\-]{8,}"  # an Authorization value pasted anywhere
    r"|\beyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*"  # a JWT (Okta tokens)
)


def _secret_name(name: str) -> bool:
    lowered = name.lower()
    return lowered in _SECRET_NAMES or lowered.endswith(_SECRET_SUFFIXES)


def redact_text(text: str) -> str:
    return _SECRET_TEXT.sub(REDACTED, text)


def redact(value: Any) -> Any:
    """``value`` with secret-named fields replaced and secret-looking strings masked."""
    if isinstance(value, dict):
        return {k: REDACTED if isinstance(k, str) and _secret_name(k) else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


class BodyCapture:
    """The first ``LIMIT`` bytes of a body, rendered redacted for the log line."""

    __slots__ = ("data", "size")

    def __init__(self) -> None:
        self.data = bytearray()
        self.size = 0

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        room = LIMIT - len(self.data)
        if room > 0:
            self.data += chunk[:room]

    def render(self, content_type: str = "") -> Any:
        if not self.size:
            return None
        truncated = self.size > len(self.data)
        if "eventstream" in content_type:
            return {"event_stream_bytes": self.size}  # binary frames: sizes only
        text = self.data.decode(errors="replace")
        if not truncated:
            try:
                return redact(json.loads(text))
            except ValueError:
                pass
        rendered: dict[str, Any] = {"text": redact_text(text)}
        if truncated:
            rendered["truncated_from_bytes"] = self.size
        return rendered
