"""Bedrock Runtime interface: Converse, ConverseStream, InvokeModel and its stream for any model LiteLLM serves.

boto3 ``bedrock-runtime`` clients use ``endpoint_url=<gateway>/bedrock`` and a bearer LiteLLM
key. Requests are translated to OpenAI chat completions, sent to LiteLLM with the caller's key,
and the answers translated back; streams become AWS event-stream frames as chunks arrive.
``handler`` serves in-process invocations with API Gateway events.
"""

from __future__ import annotations

from gateway_core.app_support import freeze_init_heap, function_app, lambda_handler
from gateway_core.converse.errors import bedrock_error_handlers
from gateway_core.http import LiteLLMClient
from starlette.applications import Starlette
from starlette.routing import Route

from bedrock_runtime.converse import converse, converse_stream
from bedrock_runtime.invoke import count_tokens, invoke, invoke_stream


def create_app(litellm: LiteLLMClient | None = None) -> Starlette:
    routes: list[Route] = [
        # {modelId:path}: ARNs arrive with their %2F decoded into slashes.
        Route("/bedrock/model/{modelId:path}/converse", converse, methods=["POST"]),
        Route("/bedrock/model/{modelId:path}/converse-stream", converse_stream, methods=["POST"]),
        Route("/bedrock/model/{modelId:path}/invoke", invoke, methods=["POST"]),
        Route("/bedrock/model/{modelId:path}/invoke-with-response-stream", invoke_stream, methods=["POST"]),
        Route("/bedrock/model/{modelId:path}/count-tokens", count_tokens, methods=["POST"]),
    ]
    return function_app(routes, bedrock_error_handlers(), litellm=litellm)


app = create_app()
handler = lambda_handler(app)
freeze_init_heap()
