"""GetPrompt itself: the request the gateway makes (botocore's Stubber checks it against the
bedrock-agent service model) and what each bedrock-agent failure becomes on the OpenAI route."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import Stubber
from gateway_core import prompts
from openai_chat.app import create_app
from starlette.testclient import TestClient

from tests.unit.fake_litellm import FakeLiteLLM

pytestmark = pytest.mark.usefixtures("prompts_from_eu_west_1")

ARN = "arn:aws:bedrock:eu-west-1:123456789012:prompt/PROMPT1234"
VARIANT = {
    "name": "v",
    "modelId": "claude",
    "templateType": "TEXT",
    "templateConfiguration": {"text": {"text": "Hello"}},
}
ANSWER = {
    "name": "p",
    "id": "PROMPT1234",
    "arn": ARN,
    "version": "3",
    "createdAt": datetime(2030, 1, 1, tzinfo=UTC),
    "updatedAt": datetime(2030, 1, 1, tzinfo=UTC),
    "defaultVariant": "v",
    "variants": [VARIANT],
}


@pytest.fixture
def stubber(clock: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    for name, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_BEDROCK_AGENT", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setattr(prompts, "_clients", {})
    client = prompts._client("eu-west-1")
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


def chat(model: str) -> Any:
    litellm = FakeLiteLLM()
    client = TestClient(create_app(litellm=litellm.client()))
    body = {"model": model, "messages": []}
    return client.post("/v1/chat/completions", json=body, headers={"Authorization": "Bearer sk-alice"})


def test_a_version_is_asked_for_by_identifier_and_version(stubber: Stubber) -> None:
    stubber.add_response(
        "get_prompt",
        {**ANSWER, "ResponseMetadata": {"RequestId": "r"}},
        {"promptIdentifier": ARN, "promptVersion": "3"},
    )
    assert chat(ARN + ":3").status_code == 200


def test_the_draft_is_asked_for_without_a_version(stubber: Stubber) -> None:
    stubber.add_response("get_prompt", ANSWER, {"promptIdentifier": ARN})
    assert chat(ARN + ":DRAFT").status_code == 200


def test_the_fetched_prompt_is_kept_without_its_response_metadata(stubber: Stubber) -> None:
    stubber.add_response("get_prompt", {**ANSWER, "ResponseMetadata": {"RequestId": "r"}}, {"promptIdentifier": ARN})
    fetched = prompts._fetch(prompts.PromptRef.parse(ARN))
    assert "ResponseMetadata" not in fetched and fetched["variants"] == [VARIANT]


@pytest.mark.parametrize(
    ("code", "status", "message"),
    [
        ("ResourceNotFoundException", 404, f"Prompt {ARN}:7 not found"),
        ("AccessDeniedException", 403, f"The gateway may not read prompt {ARN}:7: the reason"),
        ("ValidationException", 400, f"Prompt {ARN}:7: the reason"),
        ("ThrottlingException", 503, "Prompt management is unavailable (ThrottlingException)"),
    ],
)
def test_bedrock_agent_errors_become_the_callers_answer(stubber: Stubber, code: str, status: int, message: str) -> None:
    stubber.add_client_error("get_prompt", service_error_code=code, service_message="the reason", http_status_code=400)
    response = chat(ARN + ":7")
    assert (response.status_code, response.json()["error"]["message"]) == (status, message)
    assert response.json()["error"]["param"] == ("model" if status in {400, 404} else None)


@pytest.mark.parametrize(
    ("error", "status", "message"),
    [
        ({}, 503, "Prompt management is unavailable (ClientError)"),
        ({"Error": {}}, 503, "Prompt management is unavailable (ClientError)"),
        ({"Error": {"Code": "AccessDeniedException"}}, 403, f"The gateway may not read prompt {ARN}"),
        ({"Error": {"Code": "ValidationException", "Message": ""}}, 400, f"Prompt {ARN}"),
    ],
)
def test_a_client_error_without_code_or_message_still_gets_a_clean_answer(
    clock: Any, monkeypatch: pytest.MonkeyPatch, error: dict[str, Any], status: int, message: str
) -> None:
    class Failing:
        def get_prompt(self, **_: Any) -> Any:
            raise ClientError(error, "GetPrompt")  # type: ignore[arg-type]  # deliberately incomplete

    monkeypatch.setattr(prompts, "_clients", {"eu-west-1": Failing()})
    response = chat(ARN)
    assert (response.status_code, response.json()["error"]["message"]) == (status, message)


def test_an_unreachable_bedrock_agent_is_a_503(clock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    class Unreachable:
        def get_prompt(self, **_: Any) -> Any:
            raise EndpointConnectionError(endpoint_url="https://bedrock-agent.eu-west-1.amazonaws.com")

    monkeypatch.setattr(prompts, "_clients", {"eu-west-1": Unreachable()})
    response = chat(ARN)
    assert response.status_code == 503
    assert response.json()["error"]["message"] == "Prompt management is unavailable (EndpointConnectionError)"


def test_one_client_per_region_with_bounded_timeouts_and_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(prompts, "_clients", {})
    client = prompts._client("eu-west-1")
    assert prompts._client("eu-west-1") is client and prompts._client("us-east-1") is not client
    config = client.meta.config
    assert (client.meta.region_name, client.meta.service_model.service_name) == ("eu-west-1", "bedrock-agent")
    # botocore spells max_attempts=3 (retries) as total_max_attempts=4 (tries)
    assert (config.connect_timeout, config.read_timeout, config.retries) == (
        5,
        10,
        {"total_max_attempts": 4, "mode": "standard"},
    )
