"""OpenAI interface: POST /v1/chat/completions and /chat/completions, relayed to LiteLLM.

Runs under uvicorn locally and under the Lambda Web Adapter in AWS (run.sh), so responses
stream. ``handler`` serves in-process invocations with API Gateway events.
"""

from __future__ import annotations

from gateway_core.app_support import freeze_init_heap, function_app, lambda_handler
from gateway_core.http import LiteLLMClient
from gateway_core.openai_errors import openai_error_handlers
from starlette.applications import Starlette
from starlette.routing import Route

from openai_chat.chat import chat_completions


def create_app(litellm: LiteLLMClient | None = None) -> Starlette:
    routes: list[Route] = [
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/chat/completions", chat_completions, methods=["POST"]),
    ]
    return function_app(routes, openai_error_handlers(), litellm=litellm)


app = create_app()
handler = lambda_handler(app)
freeze_init_heap()
