"""Managed prompts through both interfaces' real routes: what LiteLLM receives for a prompt ARN,
and how long a fetched prompt is trusted (on a clock the test moves).

bedrock-agent's GetPrompt cannot run here, so ``gateway_core.prompts._fetch`` is replaced by
one that answers a fixed prompt and counts the calls; everything after it is the real code.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from bedrock_runtime.app import create_app as bedrock_app
from gateway_core import prompts
from gateway_core.prompts import PromptRef
from gateway_core.settings import get_settings
from openai_chat.app import create_app as openai_app
from starlette.testclient import TestClient

from tests.unit.conftest import FakeClock
from tests.unit.fake_litellm import FakeLiteLLM

pytestmark = pytest.mark.usefixtures("prompts_from_eu_west_1")

ARN = "arn:aws:bedrock:eu-west-1:123456789012:prompt/PROMPT1234"
PROMPT = {
    "defaultVariant": "main",
    "variants": [
        {"name": "other", "modelId": "wrong-model", "templateConfiguration": {"text": {"text": "no"}}},
        {
            "name": "main",
            "modelId": "claude",
            "templateConfiguration": {
                "chat": {
                    "system": [{"text": "You help {{team}}."}],
                    "messages": [{"role": "user", "content": [{"text": "Summarise {{ topic }}."}]}],
                    "inputVariables": [{"name": "team"}, {"name": "topic"}],
                }
            },
            "inferenceConfiguration": {"text": {"temperature": 0.2, "maxTokens": 50, "unknownKnob": 1}},
            "additionalModelRequestFields": {"top_k": 3},
        },
    ],
}
VARIABLES = {"team": {"text": "ops"}, "topic": {"text": "the outage"}}
RENDERED = [
    {"role": "system", "content": [{"type": "text", "text": "You help ops."}]},
    {"role": "user", "content": [{"type": "text", "text": "Summarise the outage."}]},
]


@pytest.fixture
def fetched(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> list[PromptRef]:
    calls: list[PromptRef] = []

    def fetch(ref: PromptRef) -> dict[str, Any]:
        calls.append(ref)
        return PROMPT

    monkeypatch.setattr(prompts, "_fetch", fetch)
    return calls


@pytest.fixture
def litellm() -> FakeLiteLLM:
    return FakeLiteLLM()


def chat(litellm: FakeLiteLLM, model: str, **fields: Any) -> Any:
    client = TestClient(openai_app(litellm=litellm.client()))
    body = {"model": model, "messages": [], "promptVariables": VARIABLES, **fields}
    return client.post("/v1/chat/completions", json=body, headers={"Authorization": "Bearer sk-alice"})


def test_a_prompt_arn_is_rendered_into_the_openai_request(fetched: list[PromptRef], litellm: FakeLiteLLM) -> None:
    follow_up = {"role": "user", "content": "Be short."}
    response = chat(litellm, ARN + ":3", messages=[follow_up], max_tokens=9)
    assert response.status_code == 200, response.text
    assert litellm.chats == [
        {"model": "claude", "messages": [*RENDERED, follow_up], "max_tokens": 9, "temperature": 0.2, "top_k": 3}
    ]
    (ref,) = fetched
    assert (ref.region, ref.prompt_id, ref.version, ref.identifier) == (
        "eu-west-1",
        "PROMPT1234",
        "3",
        "arn:aws:bedrock:eu-west-1:123456789012:prompt/PROMPT1234",
    )


def test_a_prompt_arn_is_rendered_into_the_converse_request(fetched: list[PromptRef], litellm: FakeLiteLLM) -> None:
    client = TestClient(bedrock_app(litellm=litellm.client()))
    body = {
        "messages": [{"role": "user", "content": [{"text": "Be short."}]}],
        "promptVariables": VARIABLES,
        "inferenceConfig": {"temperature": 0.9},
    }
    response = client.post(
        f"/bedrock/model/{ARN}/converse-stream", json=body, headers={"Authorization": "Bearer sk-alice"}
    )
    assert response.status_code == 200, response.text
    assert litellm.chats == [
        {
            "model": "claude",
            "messages": [*RENDERED, {"role": "user", "content": [{"type": "text", "text": "Be short."}]}],
            "temperature": 0.9,
            "max_tokens": 50,
            "top_k": 3,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    ]


def test_the_requests_extra_model_fields_win_over_the_prompts_on_converse(
    fetched: list[PromptRef], litellm: FakeLiteLLM
) -> None:
    client = TestClient(bedrock_app(litellm=litellm.client()))
    body = {"messages": [], "promptVariables": VARIABLES, "additionalModelRequestFields": {"top_k": 7, "seed": 1}}
    response = client.post(f"/bedrock/model/{ARN}/converse", json=body, headers={"Authorization": "Bearer sk-alice"})
    assert response.status_code == 200, response.text
    (sent,) = litellm.chats
    assert (sent["top_k"], sent["seed"], sent["temperature"], sent["max_tokens"]) == (7, 1, 0.2, 50)


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        (
            {"team": {"text": "ops"}},
            f"Prompt variables do not match prompt {ARN} (missing: topic). The prompt expects: team, topic.",
        ),
        (
            {**VARIABLES, "mood": {"text": "calm"}},
            f"Prompt variables do not match prompt {ARN} (unknown: mood). The prompt expects: team, topic.",
        ),
        ({"team": "ops", "topic": {"text": "x"}}, 'promptVariables.team must be {"text": "..."}'),
        (["team"], "promptVariables must be an object of {name: {text: value}}"),
    ],
)
def test_wrong_variables_are_a_400_naming_them(
    fetched: list[PromptRef], litellm: FakeLiteLLM, variables: Any, message: str
) -> None:
    response = chat(litellm, ARN, promptVariables=variables)
    assert response.status_code == 400 and response.json()["error"]["message"] == message
    assert response.json()["error"]["param"] == "promptVariables"
    assert litellm.chats == []


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:bedrock:eu-west-1:12345678901:prompt/PROMPT1234",  # 11-digit account
        "arn:aws:bedrock:eu-west-1:123456789012:prompt/PROMPT123",  # 9-character id
        "arn:aws:bedrock:eu-west-1:123456789012:prompt/PROMPT1234:v2",
        "arn:aws:bedrock:eu-west-1:123456789012:prompt/PROMPT1234:123456",
        "arn:aws:s3:eu-west-1:123456789012:prompt/PROMPT1234",
    ],
)
def test_a_malformed_prompt_arn_is_a_400(fetched: list[PromptRef], litellm: FakeLiteLLM, arn: str) -> None:
    response = chat(litellm, arn)
    assert response.status_code == 400 and "is not a prompt ARN" in response.json()["error"]["message"]
    assert response.json()["error"]["param"] == "model"
    assert fetched == []


def test_arn_versions_and_partitions_parse() -> None:
    draft = PromptRef.parse(ARN + ":DRAFT")
    assert (draft.version, draft.identifier) == (None, ARN)
    assert PromptRef.parse(ARN).identifier == ARN
    gov = PromptRef.parse("arn:aws-us-gov:bedrock:us-gov-west-1:123456789012:prompt/PROMPT1234:99999")
    assert (gov.region, gov.version) == ("us-gov-west-1", "99999")


def test_promptvariables_without_a_prompt_arn_are_refused(litellm: FakeLiteLLM) -> None:
    response = chat(litellm, "claude")
    assert response.status_code == 400 and response.json()["error"]["param"] == "promptVariables"
    assert litellm.chats == []


def test_the_draft_is_trusted_for_its_ttl_exactly(
    fetched: list[PromptRef], litellm: FakeLiteLLM, clock: FakeClock
) -> None:
    assert get_settings().prompt_draft_ttl_s == 60.0
    chat(litellm, ARN)
    clock.advance(59.999)
    chat(litellm, ARN)
    assert len(fetched) == 1
    clock.advance(0.001)
    chat(litellm, ARN)
    assert len(fetched) == 2  # fetched again at 60 s
    clock.advance(59.999)
    chat(litellm, ARN)
    assert len(fetched) == 2  # and trusted for 60 s from then


def test_the_draft_ttl_comes_from_the_setting(
    fetched: list[PromptRef], litellm: FakeLiteLLM, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_PROMPT_DRAFT_TTL_S", "5")
    get_settings.cache_clear()
    try:
        chat(litellm, ARN)
        clock.advance(4.999)
        chat(litellm, ARN)
        assert len(fetched) == 1
        clock.advance(0.001)
        chat(litellm, ARN)
        assert len(fetched) == 2
    finally:
        get_settings.cache_clear()


def test_a_version_is_cached_for_the_life_of_the_function_and_apart_from_others(
    fetched: list[PromptRef], litellm: FakeLiteLLM, clock: FakeClock
) -> None:
    chat(litellm, ARN + ":1")
    clock.advance(10**9)
    chat(litellm, ARN + ":1")
    assert [ref.version for ref in fetched] == ["1"]
    chat(litellm, ARN + ":2")
    chat(litellm, ARN)
    chat(litellm, ARN.replace("eu-west-1", "us-east-1") + ":1")
    assert [(ref.region, ref.version) for ref in fetched] == [
        ("eu-west-1", "1"),
        ("eu-west-1", "2"),
        ("eu-west-1", None),
        ("us-east-1", "1"),
    ]


TEXT_PROMPT = {
    "variants": [
        {
            "name": "only",
            "modelId": "titan",
            "templateType": "TEXT",
            "templateConfiguration": {
                "text": {
                    "text": "Translate {{word}}.",
                    "cachePoint": {"type": "default"},
                    "inputVariables": [{"name": "word"}],
                }
            },
        }
    ]
}
TOOLS = {"tools": [{"toolSpec": {"name": "lookup", "inputSchema": {"json": {"type": "object"}}}}]}


def test_a_text_template_is_one_user_message_with_its_cache_point(
    clock: FakeClock, litellm: FakeLiteLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prompts, "_fetch", lambda ref: TEXT_PROMPT)  # no defaultVariant: the first
    response = chat(litellm, ARN, promptVariables={"word": {"text": "cat"}})
    assert response.status_code == 200, response.text
    assert litellm.chats == [
        {
            "model": "titan",
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "Translate cat.", "cache_control": {"type": "ephemeral"}}],
                }
            ],
        }
    ]


def test_the_prompts_tools_apply_unless_the_request_brings_its_own(
    clock: FakeClock, litellm: FakeLiteLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat_prompt = json.loads(json.dumps(PROMPT))
    chat_prompt["variants"][1]["templateConfiguration"]["chat"]["toolConfiguration"] = TOOLS
    monkeypatch.setattr(prompts, "_fetch", lambda ref: chat_prompt)
    client = TestClient(bedrock_app(litellm=litellm.client()))
    body: dict[str, Any] = {"messages": [], "promptVariables": VARIABLES}
    assert (
        client.post(
            f"/bedrock/model/{ARN}/converse", json=body, headers={"Authorization": "Bearer sk-alice"}
        ).status_code
        == 200
    )
    assert litellm.chats[-1]["tools"] == [
        {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    ]
    own = {"tools": [{"toolSpec": {"name": "mine", "inputSchema": {"json": {"type": "object"}}}}]}
    response = client.post(
        f"/bedrock/model/{ARN}/converse", json={**body, "toolConfig": own}, headers={"Authorization": "Bearer sk-alice"}
    )
    assert response.status_code == 200
    assert [t["function"]["name"] for t in litellm.chats[-1]["tools"]] == ["mine"]


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ({"variants": []}, "has no variant"),
        ({"variants": [{"name": "v", "templateConfiguration": {"text": {"text": "x"}}}]}, "names no model"),
        (
            {"variants": [{"name": "v", "modelId": "m", "templateType": "AUDIO", "templateConfiguration": {}}]},
            "unsupported template type AUDIO",
        ),
    ],
)
def test_an_unusable_prompt_is_a_400_saying_why(
    clock: FakeClock, litellm: FakeLiteLLM, monkeypatch: pytest.MonkeyPatch, prompt: dict[str, Any], message: str
) -> None:
    monkeypatch.setattr(prompts, "_fetch", lambda ref: prompt)
    response = chat(litellm, ARN, promptVariables=None)
    assert response.status_code == 400 and message in response.json()["error"]["message"]
    assert litellm.chats == []


def test_a_prompt_arn_has_the_key_checked_before_the_body(fetched: list[PromptRef], litellm: FakeLiteLLM) -> None:
    # A prompt will be fetched for this request: an unknown key is refused before anything else,
    # even a body botocore's model would refuse.
    client = TestClient(bedrock_app(litellm=litellm.client()))
    body = {"messages": "not a list", "promptVariables": VARIABLES}
    response = client.post(f"/bedrock/model/{ARN}/converse", json=body, headers={"Authorization": "Bearer sk-unknown"})
    assert (response.status_code, response.headers["x-amzn-errortype"]) == (403, "AccessDeniedException")
    assert litellm.key_questions == 1 and fetched == []


def test_a_converse_prompt_turn_without_variables_is_a_400_naming_them(
    fetched: list[PromptRef], litellm: FakeLiteLLM
) -> None:
    client = TestClient(bedrock_app(litellm=litellm.client()))
    response = client.post(f"/bedrock/model/{ARN}/converse", json={}, headers={"Authorization": "Bearer sk-alice"})
    assert (response.status_code, response.headers["x-amzn-errortype"]) == (400, "ValidationException")
    assert response.json() == {
        "message": f"Prompt variables do not match prompt {ARN} (missing: team, topic). "
        "The prompt expects: team, topic."
    }
    assert litellm.chats == []
