"""LiteLLM's errors reach Bedrock clients in Bedrock's words, through the real routes: no LiteLLM
route or exception class in a message, Bedrock's sentences where Bedrock has one."""

from __future__ import annotations

import pytest
from bedrock_runtime.app import create_app
from gateway_core.http import LiteLLMClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.unit.asgi_transport import AsgiTransport

CONVERSE = ("converse", {"messages": [{"role": "user", "content": [{"text": "hi"}]}]})
INVOKE = ("invoke", {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5, "messages": []})


@pytest.mark.parametrize("call", [CONVERSE, INVOKE])
@pytest.mark.parametrize(
    ("status", "litellm_says", "code", "bedrock_says"),
    [
        (
            400,
            "/chat/completions: Invalid model name passed in model=us.no-such-v1:0. Call `/v1/models` to view "
            "available models for your key.",
            "ResourceNotFoundException",
            "The provided model identifier is invalid: us.no-such-v1:0 is not served to this key.",
        ),
        (
            401,
            "Authentication Error - key not allowed to access model. This key can only access models=['a']. "
            "Tried to access m",
            "AccessDeniedException",
            "You don't have access to the model with the specified model ID.",
        ),
        (
            401,
            "Authentication Error, Invalid proxy server token passed. Received API Key = sk-...abcd",
            "AccessDeniedException",
            "The security token included in the request is invalid.",
        ),
        (
            403,
            "team not allowed to access model. This team can only access models=['a']. Tried to access m",
            "AccessDeniedException",
            "You don't have access to the model with the specified model ID.",
        ),
        (  # litellm.Timeout is the one exception class whose name ends in neither Error nor Exception
            408,
            "litellm.Timeout: Connection timed out after 600.0 seconds.",
            "ModelTimeoutException",
            "Connection timed out after 600.0 seconds",
        ),
        (
            400,
            "/v1/messages: litellm.BadRequestError: OpenAIException - max_tokens is too large",
            "ValidationException",
            "OpenAIException - max_tokens is too large",
        ),
    ],
)
def test_litellm_errors_in_bedrocks_words(
    call: tuple[str, dict[str, object]], status: int, litellm_says: str, code: str, bedrock_says: str
) -> None:
    async def failing(_: Request) -> Response:
        return JSONResponse({"error": {"message": litellm_says, "type": "x", "code": str(status)}}, status)

    upstream = Starlette(routes=[Route(p, failing, methods=["POST"]) for p in ("/v1/chat/completions", "/v1/messages")])
    client = TestClient(create_app(litellm=LiteLLMClient(AsgiTransport(upstream))))
    route, body = call
    response = client.post(f"/bedrock/model/m/{route}", json=body, headers={"Authorization": "Bearer k"})
    assert response.headers["x-amzn-errortype"] == code
    assert response.json() == {"message": bedrock_says}
