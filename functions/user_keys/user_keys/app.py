"""Self-service identity: POST /user/new (Okta JWT onboarding) and POST /key/generate (guarded).

Buffered JSON answers: in AWS it runs under mangum (``handler``); locally, the same app under
uvicorn. Errors use OpenAI's envelope, like LiteLLM's management API next to it.
"""

from __future__ import annotations

from gateway_core.app_support import freeze_init_heap, function_app, lambda_handler
from gateway_core.http import LiteLLMClient
from gateway_core.openai_errors import openai_error_handlers
from starlette.applications import Starlette
from starlette.routing import Route

from user_keys.keys import generate_key
from user_keys.onboarding import new_user


def create_app(litellm: LiteLLMClient | None = None) -> Starlette:
    routes: list[Route] = [
        Route("/user/new", new_user, methods=["POST"]),
        Route("/key/generate", generate_key, methods=["POST"]),
    ]
    return function_app(routes, openai_error_handlers(), litellm=litellm)


app = create_app()
handler = lambda_handler(app)
freeze_init_heap()
