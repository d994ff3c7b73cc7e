"""Managed prompts through InvokeModel and its stream (the app's real routes, LiteLLM faked): the
rendered prompt reaches /v1/messages as the Anthropic body a client would send, and the answer is
Anthropic's. GetPrompt cannot run here: ``gateway_core.prompts._fetch`` is replaced, as in
``test_prompt_routes``; everything after it is the real code."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from bedrock_runtime.app import create_app
from botocore.eventstream import EventStreamBuffer
from gateway_core import prompts
from gateway_core.errors import NotFoundError
from gateway_core.prompts import PromptRef
from starlette.testclient import TestClient

from tests.unit.conftest import FakeClock
from tests.unit.fake_litellm import FakeLiteLLM
from tests.unit.test_prompt_routes import ARN, PROMPT, VARIABLES

pytestmark = pytest.mark.usefixtures("prompts_from_eu_west_1")
KEY = {"Authorization": "Bearer sk-alice"}
SENT = {  # PROMPT's main variant as an Anthropic body (its unknownKnob is not an inference field)
    "top_k": 3,
    "max_tokens": 50,
    "messages": [{"role": "user", "content": [{"type": "text", "text": "Summarise the outage."}]}],
    "system": [{"type": "text", "text": "You help ops."}],
    "temperature": 0.2,
    "model": "claude",
}


@pytest.fixture
def fetched(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> list[PromptRef]:
    calls: list[PromptRef] = []

    def fetch(ref: PromptRef) -> dict[str, Any]:
        calls.append(ref)
        return PROMPT

    monkeypatch.setattr(prompts, "_fetch", fetch)
    return calls


def post(litellm: FakeLiteLLM, route: str, body: Any, model: str = ARN, headers: Any = None) -> Any:
    client = TestClient(create_app(litellm=litellm.client()))
    return client.post(f"/bedrock/model/{model}/{route}", json=body, headers=KEY if headers is None else headers)


def chunks(raw: bytes) -> list[dict[str, Any]]:
    buffer = EventStreamBuffer()
    buffer.add_data(raw)
    return [json.loads(base64.b64decode(json.loads(message.payload)["bytes"])) for message in buffer]


def test_invoke_model_runs_the_rendered_prompt_as_an_anthropic_body(fetched: list[PromptRef]) -> None:
    litellm = FakeLiteLLM(reply="Done.")
    response = post(litellm, "invoke", {"promptVariables": VARIABLES}, model=ARN + ":3")
    assert response.status_code == 200, response.text
    assert litellm.messages == [SENT]
    assert response.json() == {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": [{"type": "text", "text": "Done."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 2},
    }
    assert response.headers["x-amzn-bedrock-input-token-count"] == "3"
    assert response.headers["x-amzn-bedrock-output-token-count"] == "2"
    assert [(ref.region, ref.version) for ref in fetched] == [("eu-west-1", "3")]
    assert litellm.key_questions == 1  # the key was validated before the prompt was fetched


def test_the_stream_is_anthropic_chunk_events(fetched: list[PromptRef]) -> None:
    litellm = FakeLiteLLM(reply="Streamed.")
    response = post(litellm, "invoke-with-response-stream", {"promptVariables": VARIABLES})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.amazon.eventstream"
    assert litellm.messages == [{**SENT, "stream": True}]
    events = chunks(response.content)
    assert [event["type"] for event in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[2]["delta"] == {"type": "text_delta", "text": "Streamed."}
    metrics = events[-1]["amazon-bedrock-invocationMetrics"]
    assert (metrics["inputTokenCount"], metrics["outputTokenCount"]) == (3, 2)


TOOL_PROMPT = {
    "variants": [
        {
            "name": "only",
            "modelId": "any-model",
            "templateType": "CHAT",
            "templateConfiguration": {
                "chat": {
                    "system": [{"text": "Rules."}, {"cachePoint": {"type": "default"}}],
                    "messages": [
                        {"role": "user", "content": [{"text": "Find {{word}}."}, {"cachePoint": {"type": "default"}}]},
                        {"role": "assistant", "content": [{"text": "Which one?"}]},
                        {"role": "user", "content": [{"text": "The first."}]},
                    ],
                    "toolConfiguration": {
                        "tools": [
                            {
                                "toolSpec": {
                                    "name": "lookup",
                                    "description": "Looks up",
                                    "inputSchema": {"json": {"type": "object", "properties": {}}},
                                }
                            },
                            {"cachePoint": {"type": "default"}},
                        ],
                        "toolChoice": {"tool": {"name": "lookup"}},
                    },
                }
            },
            "inferenceConfiguration": {"text": {"topP": 0.5, "stopSequences": ["STOP"]}},
        }
    ]
}


def test_cache_points_tools_and_the_default_max_tokens(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prompts, "_fetch", lambda ref: TOOL_PROMPT)
    litellm = FakeLiteLLM()
    response = post(litellm, "invoke", {"promptVariables": {"word": {"text": "owl"}}})
    assert response.status_code == 200, response.text
    cached = {"type": "ephemeral"}
    assert litellm.messages == [
        {
            "max_tokens": 4096,
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Find owl.", "cache_control": cached}]},
                {"role": "assistant", "content": [{"type": "text", "text": "Which one?"}]},
                {"role": "user", "content": [{"type": "text", "text": "The first."}]},
            ],
            "system": [{"type": "text", "text": "Rules.", "cache_control": cached}],
            "tools": [
                {
                    "name": "lookup",
                    "description": "Looks up",
                    "input_schema": {"type": "object", "properties": {}},
                    "cache_control": cached,
                }
            ],
            "tool_choice": {"type": "tool", "name": "lookup"},
            "top_p": 0.5,
            "stop_sequences": ["STOP"],
            "model": "any-model",
        }
    ]


@pytest.mark.parametrize("route", ["invoke", "invoke-with-response-stream"])
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"promptVariables": {"team": {"text": "ops"}}},
            f"Prompt variables do not match prompt {ARN} (missing: topic). The prompt expects: team, topic.",
        ),
        (
            {"promptVariables": {**VARIABLES, "mood": {"text": "calm"}}},
            f"Prompt variables do not match prompt {ARN} (unknown: mood). The prompt expects: team, topic.",
        ),
        ({"promptVariables": ["team"]}, "promptVariables must be an object of {name: {text: value}}"),
        (
            {"promptVariables": VARIABLES, "max_tokens": 5, "messages": []},
            "With a prompt ARN as modelId, the InvokeModel body takes only promptVariables (got: max_tokens, messages)",
        ),
    ],
)
def test_wrong_bodies_are_the_converse_400s(
    fetched: list[PromptRef], route: str, body: dict[str, Any], message: str
) -> None:
    litellm = FakeLiteLLM()
    response = post(litellm, route, body)
    assert (response.status_code, response.headers["x-amzn-errortype"]) == (400, "ValidationException")
    assert response.json() == {"message": message}
    assert litellm.messages == []


def test_a_bad_arn_an_unknown_prompt_and_a_bad_key(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(ref: PromptRef) -> dict[str, Any]:
        raise NotFoundError(f"Prompt {ref.arn} not found", param="model")

    monkeypatch.setattr(prompts, "_fetch", missing)
    litellm = FakeLiteLLM()
    short = ARN[:-1]
    response = post(litellm, "invoke", {"promptVariables": VARIABLES}, model=short)
    assert (response.status_code, response.json()) == (
        400,
        {"message": f"'{short}' is not a prompt ARN (arn:aws:bedrock:<region>:<account>:prompt/<id>[:<version>])"},
    )
    response = post(litellm, "invoke-with-response-stream", {}, model=ARN + ":9")
    assert (response.status_code, response.headers["x-amzn-errortype"]) == (404, "ResourceNotFoundException")
    assert response.json() == {"message": f"Prompt {ARN}:9 not found"}
    questions = litellm.key_questions
    response = post(litellm, "invoke", {"promptVariables": VARIABLES}, headers={"Authorization": "Bearer sk-nobody"})
    assert response.status_code == 403 and litellm.key_questions == questions + 1
    assert litellm.messages == []
