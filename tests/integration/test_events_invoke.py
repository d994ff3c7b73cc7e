"""Each function's handler invoked in process with events/*.json, as `sam local invoke` would
(mangum buffers, so streams come back whole), against the real LiteLLM of the local stack."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from gateway_core.settings import get_settings
from local.template import REPO_ROOT
from tests.integration.conftest import LocalStack

pytestmark = pytest.mark.integration
EVENTS = sorted((REPO_ROOT / "events").glob("openai-chat-*.json"))


class FakeLambdaContext:
    function_name = "OpenAIChatFunction"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:OpenAIChatFunction"
    aws_request_id = "52fdfc07-2182-154f-163f-5f0f9a621d72"


@pytest.fixture
def handler(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("GATEWAY_LITELLM_BASE_URL", stack.litellm_url)
    get_settings.cache_clear()
    from openai_chat.app import handler

    yield handler
    get_settings.cache_clear()


@pytest.mark.parametrize("event_path", EVENTS, ids=lambda p: p.stem)
def test_handler_answers_the_event(handler: Any, event_path: Any) -> None:
    event = json.loads(event_path.read_text())
    result = handler(event, FakeLambdaContext())
    assert result["statusCode"] == 200, result
    body = base64.b64decode(result["body"]).decode() if result.get("isBase64Encoded") else result["body"]
    if json.loads(event["body"]).get("stream"):
        assert body.rstrip().endswith("data: [DONE]")
    else:
        assert json.loads(body)["choices"][0]["message"]["content"]
