"""The gateway's own errors, and the one place that maps transport failures onto them.

    GatewayError
     ├── InvalidRequestError      400  the caller sent something we cannot forward
     └── UpstreamError                 LiteLLM could not give an answer
          ├── UpstreamUnavailableError 502  connection refused, reset, DNS, protocol error
          └── UpstreamTimeoutError     504  LiteLLM accepted but went silent too long

Errors that LiteLLM itself answers (401, 403, 422, 429, 5xx …) are not ours: they reach the
client unchanged. Each interface renders these classes in its own shape (OpenAI's envelope here).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

__all__ = [
    "GatewayError",
    "InvalidRequestError",
    "UpstreamError",
    "UpstreamTimeoutError",
    "UpstreamUnavailableError",
    "map_upstream_errors",
    "openai_error_body",
]


class GatewayError(Exception):
    status_code = 500
    openai_type = "api_error"
    code = "internal_error"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class InvalidRequestError(GatewayError):
    status_code = 400
    openai_type = "invalid_request_error"
    code = "invalid_request"


class UpstreamError(GatewayError):
    pass


class UpstreamUnavailableError(UpstreamError):
    status_code = 502
    code = "upstream_unavailable"


class UpstreamTimeoutError(UpstreamError):
    status_code = 504
    code = "upstream_timeout"


def openai_error_body(error: GatewayError) -> dict[str, Any]:
    return {"error": {"message": error.message, "type": error.openai_type, "param": error.param, "code": error.code}}


@contextmanager
def map_upstream_errors() -> Iterator[None]:
    """Turn httpx failures talking to LiteLLM into UpstreamError subclasses."""
    try:
        yield
    except (httpx.ConnectTimeout, httpx.PoolTimeout) as exc:  # nothing answered the connect
        raise UpstreamUnavailableError("LiteLLM is unreachable (connect timed out)") from exc
    except httpx.TimeoutException as exc:
        raise UpstreamTimeoutError("LiteLLM did not answer in time") from exc
    except httpx.TransportError as exc:
        raise UpstreamUnavailableError(f"LiteLLM is unreachable ({type(exc).__name__})") from exc
