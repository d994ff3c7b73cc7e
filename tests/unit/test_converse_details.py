"""Converse details the sample's surviving mutants showed untested: every LiteLLM error class,
tool results and reasoning in both directions, exception frames' headers, and history read
back in Converse's shape (tool calls and results, images, documents, unknown parts)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.eventstream import EventStreamBuffer
from gateway_core.converse.errors import from_litellm_error
from gateway_core.converse.request import converse_to_openai
from gateway_core.converse.response import openai_to_converse
from gateway_core.eventstream import encode_exception

from tests.unit.conftest import Gateway


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (429, {"error": {"message": "slow"}}, (429, "ThrottlingException", "slow")),
        (408, {"error": {"message": "t"}}, (408, "ModelTimeoutException", "t")),
        (504, {"error": {"message": "t"}}, (408, "ModelTimeoutException", "t")),
        (502, {"error": {"message": "d"}}, (503, "ServiceUnavailableException", "d")),
        (503, {"error": {"message": "d"}}, (503, "ServiceUnavailableException", "d")),
        (424, {"error": {"message": "m"}}, (424, "ModelErrorException", "m")),
        (401, {"error": {"message": "k"}}, (403, "AccessDeniedException", "k")),
        (403, {"error": {"message": "k"}}, (403, "AccessDeniedException", "k")),
        (404, {"error": {"message": "x"}}, (404, "ResourceNotFoundException", "x")),
        (400, {"error": {"message": "model_not_found"}}, (404, "ResourceNotFoundException", "model_not_found")),
        (422, {"error": {"message": "bad"}}, (400, "ValidationException", "bad")),
        (500, {"error": {"message": "boom"}}, (500, "InternalServerException", "boom")),
        (
            400,
            {"error": {"message": "Budget exhausted for key"}},
            (403, "AccessDeniedException", "Budget exhausted: Budget exhausted for key"),
        ),
        (
            400,
            {"error": {"message": "Input exceeded the context window"}},
            (400, "ValidationException", "Input exceeded the context window"),
        ),
        (400, {"detail": "no detail message"}, (400, "ValidationException", "no detail message")),
        (400, {"error": {"code": 7}}, (400, "ValidationException", '{"code": 7}')),
        (400, {"error": "plain"}, (400, "ValidationException", "plain")),
        (400, "not json", (400, "ValidationException", "not json")),
    ],
)
def test_every_litellm_error_maps_to_its_bedrock_exception(
    status: int, body: Any, expected: tuple[int, str, str]
) -> None:
    error = from_litellm_error(status, body)
    assert (error.status, error.error_type, error.message) == expected


def test_exception_frames_carry_the_event_stream_headers() -> None:
    buffer = EventStreamBuffer()
    buffer.add_data(encode_exception("throttlingException", "slow down"))
    (frame,) = list(buffer)
    assert frame.headers == {
        ":exception-type": "throttlingException",
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    assert json.loads(frame.payload) == {"message": "slow down"}


def test_tool_results_become_tool_messages_with_their_text() -> None:
    body = {
        "messages": [
            {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "f", "input": {"a": 1}}}]},
            {
                "role": "user",
                "content": [
                    {"toolResult": {"toolUseId": "t1", "content": [{"text": "line"}, {"json": {"x": 2}}]}},
                    {"toolResult": {"toolUseId": "t2", "status": "error", "content": [{"text": "failed"}]}},
                ],
            },
        ]
    }
    sent = converse_to_openai("m", body, stream=False)["messages"]
    assert sent[1:] == [
        {"role": "tool", "tool_call_id": "t1", "content": 'line\n{"x": 2}'},
        {"role": "tool", "tool_call_id": "t2", "content": "Error: failed"},
    ]


def test_reasoning_comes_back_as_reasoning_content() -> None:
    answer = {
        "choices": [
            {
                "finish_reason": "stop",
                "message": {
                    "content": "ok",
                    "thinking_blocks": [
                        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                        {"type": "redacted_thinking", "data": "x"},
                        {"type": "thinking", "thinking": "more"},
                    ],
                },
            }
        ]
    }
    content = openai_to_converse(answer, 5)["output"]["message"]["content"]
    assert content == [
        {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "sig"}}},
        {"reasoningContent": {"reasoningText": {"text": "more"}}},
        {"text": "ok"},
    ]
    plain = {"choices": [{"message": {"content": "ok", "reasoning_content": "why"}}]}
    assert openai_to_converse(plain, 5)["output"]["message"]["content"] == [
        {"reasoningContent": {"reasoningText": {"text": "why"}}},
        {"text": "ok"},
    ]


def test_history_reads_back_in_converse_shape(gateway: Gateway) -> None:
    stored = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                {
                    "type": "file",
                    "file": {"file_data": "data:application/pdf;base64,BBBB", "filename": "report.v2.pdf"},
                },
                {"type": "input_audio", "input_audio": {"data": "x"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "thinking_blocks": [{"type": "thinking", "thinking": "plan", "signature": "s"}],
            "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}],
        },
        {"role": "tool", "tool_call_id": "t1", "content": [{"type": "text", "text": "42"}]},
        {"role": "tool", "tool_call_id": "t2", "content": "plain"},
    ]
    gateway.store.append("s", "user:alice", stored, create=True, model="m", system=[{"role": "system", "content": "S"}])
    read = gateway.history.post(
        "/bedrock/chat-history", json={"session_id": "s"}, headers={"Authorization": "Bearer sk-alice"}
    )
    assert read.status_code == 200
    assert read.json() == {
        "session_id": "s",
        "system": [{"text": "S"}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"text": "look"},
                    {"image": {"format": "png", "source": {"bytes": "AAAA"}}},
                    {"text": "[image: https://example.com/cat.png]"},
                    {"document": {"format": "pdf", "name": "report.v2", "source": {"bytes": "BBBB"}}},
                    {"text": json.dumps({"type": "input_audio", "input_audio": {"data": "x"}})},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"reasoningContent": {"reasoningText": {"text": "plan", "signature": "s"}}},
                    {"toolUse": {"toolUseId": "t1", "name": "f", "input": {"a": 1}}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "toolResult": {
                            "toolUseId": "t1",
                            "content": [{"text": json.dumps([{"type": "text", "text": "42"}])}],
                        }
                    },
                    {"toolResult": {"toolUseId": "t2", "content": [{"text": "plain"}]}},
                ],
            },
        ],
        "next_token": None,
    }


def test_a_bug_of_ours_is_a_500_in_bedrocks_shape_without_details(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from bedrock_runtime import converse
    from bedrock_runtime.app import create_app
    from starlette.testclient import TestClient

    from tests.unit.fake_litellm import FakeLiteLLM

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(converse, "converse_to_openai", broken)
    client = TestClient(create_app(litellm=FakeLiteLLM().client()), raise_server_exceptions=False)
    body = {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}
    response = client.post("/bedrock/model/m/converse", json=body, headers={"Authorization": "Bearer k"})
    assert (response.status_code, response.json()) == (500, {"message": "Internal gateway error"})
    assert response.headers["x-amzn-ErrorType"] == "InternalServerException"
    # the details go to the log, with the traceback, for us to fix it
    [record] = [r for r in caplog.records if r.name == "gateway" and r.levelname == "ERROR"]
    assert record.getMessage() == "unhandled error"
    assert record.exc_info is not None and str(record.exc_info[1]) == "secret internal detail"
