"""The gateway's own errors (the transport maps its failures onto UpstreamError subclasses).

    GatewayError
     ├── InvalidRequestError      400  the caller sent something we cannot forward
     ├── AuthenticationError      401  no key, or a key LiteLLM does not accept
     ├── PermissionDeniedError    403  a valid identity asking for more than it may
     ├── NotFoundError            404  no such resource *for this caller* (sessions, prompts)
     ├── PayloadTooLargeError     413  a body past API Gateway's 10 MB
     ├── ServiceUnavailableError  503  a store we depend on (DynamoDB, bedrock-agent) failed
     └── UpstreamError                 LiteLLM could not give an answer
          ├── UpstreamUnavailableError 502  connection refused, reset, DNS, protocol error
          └── UpstreamTimeoutError     504  LiteLLM accepted but went silent too long

Errors that LiteLLM itself answers (401, 403, 422, 429, 5xx …) are not ours: they reach the
client unchanged. Each interface renders these classes in its own shape (OpenAI's envelope here).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationError",
    "GatewayError",
    "InvalidKeyError",
    "InvalidRequestError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "ServiceUnavailableError",
    "UpstreamError",
    "UpstreamTimeoutError",
    "UpstreamUnavailableError",
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


class AuthenticationError(GatewayError):
    status_code = 401
    openai_type = "authentication_error"
    code = "invalid_api_key"


class InvalidKeyError(AuthenticationError):
    """A key LiteLLM does not accept (unknown, expired, blocked): Bedrock routes say it in Bedrock's words."""


class PermissionDeniedError(GatewayError):
    status_code = 403
    openai_type = "permission_error"
    code = "permission_denied"


class NotFoundError(GatewayError):
    status_code = 404
    openai_type = "not_found_error"
    code = "not_found"


class PayloadTooLargeError(GatewayError):
    status_code = 413
    openai_type = "invalid_request_error"
    code = "request_too_large"


class ServiceUnavailableError(GatewayError):
    status_code = 503
    code = "service_unavailable"


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
