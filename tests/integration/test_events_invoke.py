"""Each function's handler invoked in process with events/*.json, as `sam local invoke` would
(mangum buffers, so streams come back whole), against the real LiteLLM of the local stack."""

from __future__ import annotations

import asyncio
import base64
import importlib
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.eventstream import EventStreamBuffer
from gateway_core.history.store import get_store
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


SAMPLE_SESSION_ID = "00000000-0000-4000-8000-000000000000"  # events/chat-history-*.json
SAMPLE_USER_ID = "events-fixture-user"  # events/user-keys-new-user-post.json


def _reset_caches() -> None:
    get_settings.cache_clear()
    get_store.cache_clear()


@pytest.fixture
def litellm_env(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The environment template.yaml gives the functions, pointed at the local stack."""
    monkeypatch.setenv("GATEWAY_LITELLM_BASE_URL", stack.litellm_url)
    monkeypatch.setenv("GATEWAY_HISTORY_TABLE", "gateway-history")
    monkeypatch.setenv("GATEWAY_LITELLM_MASTER_KEY", stack.master_key)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", stack.dynamodb_url)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    _reset_caches()
    yield
    _reset_caches()
    loop = asyncio.get_event_loop()  # mangum's loop: close the pooled sessions it created
    for spec in functions(load_template()):
        loop.run_until_complete(importlib.import_module(f"{spec.package}.app").app.state.litellm.aclose())


def with_real_session(stack: LocalStack, event: dict[str, Any]) -> dict[str, Any]:
    """History events name a sample session: create a real one and put its id in their place.
    The onboarding event names a sample user: make it unique, since the database outlives runs."""
    text = json.dumps(event).replace(SAMPLE_USER_ID, f"{SAMPLE_USER_ID}-{uuid.uuid4().hex[:8]}")
    if SAMPLE_SESSION_ID not in text:
        return dict(json.loads(text))
    created = stack.openai().chat.completions.create(
        model="fake-gpt", messages=[{"role": "user", "content": "hi"}], extra_body={"enable_history": True}
    )
    return dict(json.loads(text.replace(SAMPLE_SESSION_ID, created.model_extra["session_id"])))


@pytest.mark.usefixtures("litellm_env")
@pytest.mark.parametrize("event_path", EVENTS, ids=lambda p: p.stem)
def test_handler_answers_the_event(stack: LocalStack, event_path: Path) -> None:
    event = with_real_session(stack, json.loads(event_path.read_text()))
    result = handler_for(event)(event, FakeLambdaContext())
    assert result["statusCode"] == 200, result
    raw = base64.b64decode(result["body"]) if result.get("isBase64Encoded") else result["body"].encode()
    assert_answers(event, raw)


def assert_answers(event: dict[str, Any], raw: bytes) -> None:
    """The 200 body ``event`` asks for, whichever function and however it ran."""
    if event["path"].endswith("/converse-stream"):
        buffer = EventStreamBuffer()
        buffer.add_data(raw)
        kinds = [message.headers[":event-type"] for message in buffer]
        assert kinds[0] == "messageStart" and kinds[-2:] == ["messageStop", "metadata"], kinds
    elif event["path"].endswith("/invoke-with-response-stream"):  # a Nova body: Converse events in chunks
        buffer = EventStreamBuffer()
        buffer.add_data(raw)
        chunks = [json.loads(base64.b64decode(json.loads(message.payload)["bytes"])) for message in buffer]
        assert "messageStart" in chunks[0] and "amazon-bedrock-invocationMetrics" in chunks[-1], chunks
    elif event["path"].endswith("/invoke"):  # an Anthropic body
        assert json.loads(raw)["content"][0]["text"]
    elif event["path"].endswith("/count-tokens"):
        assert json.loads(raw)["inputTokens"] > 0
    elif event["path"].endswith("/converse"):
        assert json.loads(raw)["output"]["message"]["content"][0]["text"]
    elif event["resource"] in {"/chat-history", "/bedrock/chat-history"}:
        assert json.loads(raw)["messages"][0]["role"] == "user"
    elif event["resource"] == "/session-ids":
        assert "session_ids" in json.loads(raw)
    elif event["resource"] in {"/user/new", "/key/generate"}:
        assert json.loads(raw)["key"].startswith("sk-")
    elif event["httpMethod"] == "DELETE":
        assert json.loads(raw)["deleted"] is True
    elif json.loads(event["body"]).get("stream"):
        assert raw.decode().rstrip().endswith("data: [DONE]")
    else:
        assert json.loads(raw)["choices"][0]["message"]["content"]
