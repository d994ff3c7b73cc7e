"""Request bodies: a JSON object, or a clear 400 that says what is wrong (never a 500)."""

from __future__ import annotations

import json
from typing import Any

from gateway_core.errors import InvalidRequestError

__all__ = ["json_object"]


def json_object(raw: bytes, *, empty: dict[str, Any] | None = None) -> dict[str, Any]:
    """``raw`` parsed as a JSON object; ``empty`` (when given) stands for a blank body."""
    if empty is not None and not raw.strip():
        return dict(empty)
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequestError(f"Request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidRequestError("Request body must be a JSON object")
    return body
