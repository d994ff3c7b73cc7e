"""Bedrock Runtime interface: Converse and ConverseStream for any model LiteLLM serves.

boto3 ``bedrock-runtime`` clients use ``endpoint_url=<gateway>/bedrock`` and a bearer LiteLLM
key. Requests are translated to OpenAI chat completions, sent to LiteLLM with the caller's key,
and the answers translated back; streams become AWS event-stream frames as chunks arrive.
``handler`` serves in-process invocations with API Gateway events.
"""

from __future__ import annotations

from fastapi import FastAPI
from gateway_core.app_support import health, lambda_handler, lifespan
from gateway_core.converse.errors import install_bedrock_error_handlers
from gateway_core.observability import AccessLogMiddleware, configure_logging

from bedrock_runtime.converse import converse, converse_stream


def create_app() -> FastAPI:
    configure_logging()
    app = FastAPI(title="gateway-bedrock-runtime", lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    install_bedrock_error_handlers(app)
    app.add_middleware(AccessLogMiddleware)
    # {modelId:path}: ARNs arrive with their %2F decoded into slashes.
    app.add_api_route("/bedrock/model/{modelId:path}/converse", converse, methods=["POST"])
    app.add_api_route("/bedrock/model/{modelId:path}/converse-stream", converse_stream, methods=["POST"])
    app.add_api_route("/health", health, methods=["GET"], include_in_schema=False)
    return app


app = create_app()
handler = lambda_handler(app)
