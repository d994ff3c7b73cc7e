"""Errors in Bedrock's restJson1 shape, so botocore raises the right exception class:
status, ``x-amzn-ErrorType`` and a body ``{"message": "<string>"}``. After a stream started,
the same error travels as a modeled exception frame instead."""

from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway_core.app_support import ErrorHandler
from gateway_core.errors import (
    AuthenticationError,
    GatewayError,
    InvalidKeyError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    UpstreamError,
    UpstreamTimeoutError,
)
from gateway_core.internals import public_message

__all__ = [
    "BedrockError",
    "bedrock_error_handlers",
    "bedrock_error_response",
    "from_gateway_error",
    "from_litellm_error",
]

log = logging.getLogger("gateway")


class BedrockError(Exception):
    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error_type, self.message = status, error_type, message

    @property
    def stream_exception_type(self) -> str:
        """The ConverseStream event name for this error (throttlingException, ...)."""
        name = {"ModelErrorException": "ModelStreamErrorException", "AccessDeniedException": "ValidationException"}.get(
            self.error_type, self.error_type
        )
        if name not in {
            "ThrottlingException",
            "ValidationException",
            "ServiceUnavailableException",
            "InternalServerException",
            "ModelStreamErrorException",
        }:
            name = "ModelStreamErrorException"
        return name[0].lower() + name[1:]


def bedrock_error_response(error: BedrockError) -> JSONResponse:
    headers = {"x-amzn-ErrorType": error.error_type, "x-amzn-RequestId": str(uuid.uuid4())}
    return JSONResponse({"message": error.message}, status_code=error.status, headers=headers)


def from_gateway_error(error: GatewayError) -> BedrockError:
    if isinstance(error, InvalidRequestError):
        return BedrockError(400, "ValidationException", error.message)
    if isinstance(error, PayloadTooLargeError):
        return BedrockError(413, "ValidationException", error.message)
    if isinstance(error, InvalidKeyError):  # the same words as when LiteLLM refuses the key on the chat call
        return BedrockError(403, "AccessDeniedException", INVALID_KEY_WORDS)
    if isinstance(error, (AuthenticationError, PermissionDeniedError)):
        return BedrockError(403, "AccessDeniedException", error.message)
    if isinstance(error, NotFoundError):
        return BedrockError(404, "ResourceNotFoundException", error.message)
    if isinstance(error, UpstreamTimeoutError):
        return BedrockError(408, "ModelTimeoutException", error.message)
    return BedrockError(503, "ServiceUnavailableException", error.message)


def _message(body: Any) -> str:
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            return str(error.get("message") or error.get("detail") or json.dumps(error))
        return str(error)
    return str(body)


# LiteLLM prefixes its messages with the route and exception class that produced them; a Bedrock
# client called neither, so they go.
_ROUTE_PREFIX = re.compile(r"^(?:/v1)?/(?:chat/completions|messages|embeddings|utils/token_counter)\s*:\s*")
_EXCEPTION_PREFIX = re.compile(r"\blitellm\.\w+:\s*")
_INVALID_MODEL = re.compile(r"invalid model name passed in model=(\S+?)\.?(?:\s|$)", re.IGNORECASE)
_MODEL_NOT_ALLOWED = ("not allowed to access model", "team not allowed to access model", "key not allowed")
INVALID_KEY_WORDS = "The security token included in the request is invalid."  # Bedrock's words for a bad credential
_INVALID_KEY = ("invalid proxy server token", "no api key passed in", "invalid api key", "authentication error")


def bedrock_message(status: int, message: str) -> str:
    """LiteLLM's message in Bedrock's words where Bedrock has some, without LiteLLM's routes."""
    lowered = message.lower()
    invalid_model = _INVALID_MODEL.search(message)
    if invalid_model:
        return f"The provided model identifier is invalid: {invalid_model.group(1)} is not served to this key."
    if status in {401, 403} and any(marker in lowered for marker in _MODEL_NOT_ALLOWED):
        return "You don't have access to the model with the specified model ID."
    if status == 401 and any(marker in lowered for marker in _INVALID_KEY):
        return INVALID_KEY_WORDS
    return _EXCEPTION_PREFIX.sub("", _ROUTE_PREFIX.sub("", message.strip())).strip()


def from_litellm_error(status: int, body: Any) -> BedrockError:
    """Map a LiteLLM error answer onto the Bedrock exception a Bedrock client expects: in Bedrock's
    words where Bedrock has some, without LiteLLM's internals (``gateway_core.internals``)."""
    raw = _message(body)
    lowered = raw.lower()
    message = bedrock_message(status, public_message(raw))
    if "budget" in lowered and ("exceeded" in lowered or "exhausted" in lowered):
        # Not retryable, so not ThrottlingException (boto3 would retry it): access is denied.
        return BedrockError(403, "AccessDeniedException", f"Budget exhausted: {message}")
    if status == 404 or "invalid model name" in lowered or "model_not_found" in lowered:
        return BedrockError(404, "ResourceNotFoundException", message)
    if status in {401, 403}:
        return BedrockError(403, "AccessDeniedException", message)
    if status == 429:
        return BedrockError(429, "ThrottlingException", message)
    if status in {408, 504}:
        return BedrockError(408, "ModelTimeoutException", message)
    if status in {502, 503}:
        return BedrockError(503, "ServiceUnavailableException", message)
    if status == 424:
        return BedrockError(424, "ModelErrorException", message)
    if 400 <= status < 500:
        return BedrockError(400, "ValidationException", message)
    return BedrockError(500, "InternalServerException", message)


async def _bedrock_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, BedrockError)
    return bedrock_error_response(exc)


async def _gateway_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    if isinstance(exc, UpstreamError):
        log.warning("upstream failure: %s", exc.message)
    return bedrock_error_response(from_gateway_error(exc))


async def _unexpected(_: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return bedrock_error_response(BedrockError(500, "InternalServerException", "Internal gateway error"))


def bedrock_error_handlers() -> dict[type[Exception], ErrorHandler]:
    return {BedrockError: _bedrock_error, GatewayError: _gateway_error, Exception: _unexpected}
