"""Request bodies: a JSON object, or a clear 400 that says what is wrong (never a 500).

The parser refuses what no API here needs and what would cost us later: nesting deeper than
``MAX_DEPTH`` (our own recursive code and botocore's validator would hit Python's recursion
limit), integers longer than ``MAX_INTEGER_DIGITS`` (Python refuses to convert past 4,300 digits,
and no field here needs more than a few), ``NaN`` / ``Infinity`` and numbers that overflow to
them (not JSON, and they cannot be serialized back for LiteLLM or DynamoDB), and strings with
lone UTF-16 surrogates (``"\\ud800"``: not Unicode, so they cannot be encoded to UTF-8 anywhere).
"""

from __future__ import annotations

import json
import math
from typing import Any

from gateway_core.errors import InvalidRequestError

__all__ = ["MAX_DEPTH", "MAX_INTEGER_DIGITS", "json_object", "parse_json"]

MAX_DEPTH = 64
MAX_INTEGER_DIGITS = 64


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise InvalidRequestError(f"Request body has an integer of more than {MAX_INTEGER_DIGITS} digits")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidRequestError(f"Request body has a number out of range: {text[:40]}")
    return value


def _constant(name: str) -> Any:
    raise InvalidRequestError(f"Request body has {name}, which is not JSON")


def _bad_string(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _check_shape(value: Any) -> None:
    """Depth and strings, walked without recursion (the depth is what is being checked)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            if depth > MAX_DEPTH:
                raise InvalidRequestError(f"Request body nests deeper than {MAX_DEPTH} levels")
            for key, item in node.items():
                if _bad_string(key):
                    raise InvalidRequestError("Request body has a key with a lone UTF-16 surrogate")
                stack.append((item, depth + 1))
        elif isinstance(node, list):
            if depth > MAX_DEPTH:
                raise InvalidRequestError(f"Request body nests deeper than {MAX_DEPTH} levels")
            stack.extend((item, depth + 1) for item in node)
        elif isinstance(node, str) and _bad_string(node):
            raise InvalidRequestError("Request body has a string with a lone UTF-16 surrogate")


# Built once: ``json.loads`` with these hooks builds a decoder (and its scanner) on every call.
_decoder = json.JSONDecoder(parse_int=_integer, parse_float=_float, parse_constant=_constant)


def parse_json(raw: bytes) -> Any:
    """``raw`` parsed as JSON within the limits above; anything else is an InvalidRequestError."""
    try:
        # as json.loads reads bytes: UTF-8, -16 or -32 by their first bytes
        value = _decoder.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequestError(f"Request body is not valid JSON: {exc}") from exc
    except RecursionError as exc:  # deeper than the C scanner goes: far past MAX_DEPTH
        raise InvalidRequestError(f"Request body nests deeper than {MAX_DEPTH} levels") from exc
    _check_shape(value)
    return value


def json_object(raw: bytes, *, empty: dict[str, Any] | None = None) -> dict[str, Any]:
    """``raw`` parsed as a JSON object; ``empty`` (when given) stands for a blank body."""
    if empty is not None and not raw.strip():
        return dict(empty)
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise InvalidRequestError("Request body must be a JSON object")
    return body
