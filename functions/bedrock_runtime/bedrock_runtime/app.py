"""Bedrock Runtime interface: Converse and ConverseStream for any model LiteLLM serves.

boto3 ``bedrock-runtime`` clients use ``endpoint_url=<gateway>/bedrock`` and a bearer LiteLLM
key. Requests are translated to OpenAI chat completions, sent to LiteLLM with the caller's key,
and the answers translated back; streams become AWS event-stream frames as chunks arrive.
``handler`` serves in-process invocations with API Gateway events.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import Response

from bedrock_runtime.converse import converse, converse_stream
from gateway_core.converse.errors import BedrockError, bedrock_error_response, from_gateway_error
from gateway_core.errors import GatewayError, InvalidRequestError
from gateway_core.app_support import health, lambda_handler, lifespan
from gateway_core.observability import AccessLogMiddleware, configure_logging, log


async def _bedrock_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, BedrockError)
    return bedrock_error_response(exc)


async def _gateway_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return bedrock_error_response(from_gateway_error(exc))


async def _validation_error(_: Request, exc: Exception) -> Response:
    return bedrock_error_response(from_gateway_error(InvalidRequestError(f"Invalid request: {exc}")))


async def _unexpected(_: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return bedrock_error_response(BedrockError(500, "InternalServerException", "Internal gateway error"))


def create_app() -> FastAPI:
    configure_logging()
    app = FastAPI(title="gateway-bedrock-runtime", lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    app.add_exception_handler(BedrockError, _bedrock_error)
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(AccessLogMiddleware)
    # {modelId:path}: ARNs arrive with their %2F decoded into slashes.
    app.add_api_route("/bedrock/model/{modelId:path}/converse", converse, methods=["POST"])
    app.add_api_route("/bedrock/model/{modelId:path}/converse-stream", converse_stream, methods=["POST"])
    app.add_api_route("/health", health, methods=["GET"], include_in_schema=False)
    return app


app = create_app()
handler = lambda_handler(app)
