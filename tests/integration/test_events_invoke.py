"""Each function's handler invoked in process with events/*.json, as `sam local invoke` would
(mangum buffers, so streams come back whole), against the real LiteLLM of the local stack."""

from __future__ import annotations

import base64
import importlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.eventstream import EventStreamBuffer

from gateway_core.settings import get_settings
from local.template import LITELLM, REPO_ROOT, functions, load_routes, load_template
from tests.integration.conftest import LocalStack

pytestmark = pytest.mark.integration
EVENTS = sorted((REPO_ROOT / "events").glob("*.json"))


class FakeLambdaContext:
    function_name = "gateway-function"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:gateway-function"
    aws_request_id = "52fdfc07-2182-154f-163f-5f0f9a621d72"


def handler_for(event: dict[str, Any]) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The handler of the function that template.yaml routes this event to."""
    route = next(r for r in load_routes() if r.target != LITELLM and r.matches(event["httpMethod"], event["path"]))
    spec = next(s for s in functions(load_template()) if s.logical_id == route.target)
    handler: Callable[[dict[str, Any], Any], dict[str, Any]] = importlib.import_module(f"{spec.package}.app").handler
    return handler


@pytest.fixture
def litellm_env(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GATEWAY_LITELLM_BASE_URL", stack.litellm_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("litellm_env")
@pytest.mark.parametrize("event_path", EVENTS, ids=lambda p: p.stem)
def test_handler_answers_the_event(event_path: Path) -> None:
    event = json.loads(event_path.read_text())
    result = handler_for(event)(event, FakeLambdaContext())
    assert result["statusCode"] == 200, result
    raw = base64.b64decode(result["body"]) if result.get("isBase64Encoded") else result["body"].encode()
    if event["path"].endswith("/converse-stream"):
        buffer = EventStreamBuffer()
        buffer.add_data(raw)
        kinds = [message.headers[":event-type"] for message in buffer]
        assert kinds[0] == "messageStart" and kinds[-2:] == ["messageStop", "metadata"], kinds
    elif event["path"].endswith("/converse"):
        assert json.loads(raw)["output"]["message"]["content"][0]["text"]
    elif json.loads(event["body"]).get("stream"):
        assert raw.decode().rstrip().endswith("data: [DONE]")
    else:
        assert json.loads(raw)["choices"][0]["message"]["content"]
