"""What LiteLLM says about itself and its providers stays inside: relayed headers, redirects and
error messages are scrubbed of internal addresses and LiteLLM's plumbing.

* Headers: ``x-litellm-model-api-base`` (the provider's URL), ``x-litellm-version``, every
  ``llm_provider-*`` header (the provider's own answer headers, relayed by LiteLLM), and any
  header whose value names LiteLLM's own address, are dropped.
* ``Location``: a redirect to LiteLLM's own host becomes a path on ours.
* Messages (Bedrock errors, which we reword): URLs, LiteLLM's exception class names, its model
  group, fallback and retry trailers and its table names are removed; the reason stays.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import urlsplit

from gateway_core.settings import get_settings

__all__ = ["public_headers", "public_message"]

_DROPPED = frozenset({"x-litellm-model-api-base", "x-litellm-version", "server"})
_DROPPED_PREFIXES = ("llm_provider-",)

_URL = re.compile(r"\b(?:https?|wss?)://[^\s'\"<>),]+", re.IGNORECASE)
_HOST_PORT = re.compile(r"\b(?:\d{1,3}(?:\.\d{1,3}){3}|localhost|[\w-]+(?:\.[\w-]+)*\.internal)(?::\d+)?\b")
_EXCEPTION_PREFIX = re.compile(r"\blitellm\.(?:\w+\.)*(\w+(?:Error|Exception))\s*:\s*", re.IGNORECASE)
_EXCEPTION_NAMES = re.compile(r"\b(?:litellm\.)?\w+(?:Error|Exception)\s*:\s*(?=\w)")
_TRAILERS = re.compile(
    r"[\s.,]*(?:Received Model Group|Available Model Group Fallbacks|LiteLLM Retried|LiteLLM Max Retries|"
    r"cooldown_list|api_base)\b[^\n]*",
    re.IGNORECASE,
)
_TABLES = re.compile(r"`?LiteLLM_\w+`?")
_ROUTES = re.compile(r"\broute\s*[=:]\s*/\S*|(?<![\w/])/(?:v1/)?(?:chat/completions|key/\w+|user/\w+|team/\w+)\b")


@lru_cache(maxsize=1)
def _litellm_netloc() -> str:
    return urlsplit(get_settings().litellm_base_url).netloc.lower()


def _public_location(value: str) -> str | None:
    parts = urlsplit(value)
    if not parts.netloc:
        return value  # relative: already on our host
    if parts.netloc.lower() != _litellm_netloc():
        return value  # somewhere else on purpose (an identity provider, ...)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def public_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """``headers`` (lower-case names; order and repeats kept) without internal ones; ``location``
    made relative to us."""
    pairs = list(headers)
    netloc = _litellm_netloc()
    # One search of every value for LiteLLM's address (an answer usually has none), and a search
    # per value only when it is somewhere: ~30 headers come back with every chat completion.
    anywhere = bool(netloc) and netloc in "\n".join(value for _, value in pairs).lower()
    kept: list[tuple[str, str]] = []
    for name, value in pairs:
        lowered = name.lower()
        if lowered in _DROPPED or lowered.startswith(_DROPPED_PREFIXES):
            continue
        if lowered == "location":
            location = _public_location(value)
            if location is not None:
                kept.append((name, location))
            continue
        if anywhere and netloc in value.lower():
            continue
        kept.append((name, value))
    return kept


def public_message(message: str) -> str:
    """An upstream error message without addresses or LiteLLM internals (its reason kept)."""
    text = _EXCEPTION_PREFIX.sub("", message)
    text = _EXCEPTION_NAMES.sub("", text)
    text = _TRAILERS.sub("", text)
    text = _URL.sub("<upstream>", text)
    text = _HOST_PORT.sub("<upstream>", text)
    text = _TABLES.sub("the key store", text)
    text = _ROUTES.sub("the route", text)
    text = re.sub(r"\s{2,}", " ", text).strip(" ,.;:-")
    return text or "The model provider refused the request"
