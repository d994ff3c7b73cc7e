"""The access middleware through the OpenAI app's real routes, LiteLLM faked behind the seam: the
request id reaches LiteLLM and the client, the EMF line and the log line describe the request,
content is logged only when asked and then with keys redacted; and the X-Ray entities a request
makes in Lambda (where only the trace header tells us Lambda's segment) hang under that segment."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from gateway_core import tracing
from gateway_core.content_log import REDACTED, redact
from gateway_core.http import LiteLLMClient
from gateway_core.observability import log
from gateway_core.settings import get_settings
from openai_chat.app import create_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.unit.asgi_transport import AsgiTransport

USAGE = {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}


async def completions(request: Request) -> Response:
    body = json.loads(await request.body())
    if not body.get("stream"):
        return JSONResponse(
            {"id": "c1", "choices": [{"message": {"content": "ok sk-leaked-key-123456"}}], "usage": USAGE}
        )

    async def events() -> AsyncIterator[bytes]:
        yield b'data: {"choices":[{"index":0,"delta":{"content":"ok"}}]}\n\n'
        yield b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
        if (body.get("stream_options") or {}).get("include_usage"):  # as LiteLLM: only when asked
            yield b'data: {"choices":[{"index":0,"delta":{}}],"usage":' + json.dumps(USAGE).encode() + b"}\n\n"
        yield b"data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def logged() -> Iterator[Records]:
    handler = Records()
    log.addHandler(handler)
    yield handler
    log.removeHandler(handler)


def _client(monkeypatch: pytest.MonkeyPatch, log_content: bool = False) -> tuple[TestClient, AsgiTransport]:
    monkeypatch.setenv("GATEWAY_LOG_CONTENT", "true" if log_content else "false")
    get_settings.cache_clear()
    transport = AsgiTransport(Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])]))
    app = create_app(litellm=LiteLLMClient(transport))
    app.state.service = "openai-chat"
    return TestClient(app), transport


def _emf(out: str, request_id: str) -> dict[str, Any]:
    lines = [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]
    (line,) = [doc for doc in lines if doc["request_id"] == request_id]
    return line


def test_request_id_metrics_and_log_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], logged: Records
) -> None:
    client, transport = _client(monkeypatch)
    response = client.post(
        "/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "secret prompt"}]},
        headers={"Authorization": "Bearer sk-caller-key-abcdef", "x-litellm-call-id": "forged-by-the-caller"},
    )
    request_id = response.headers["x-gateway-request-id"]
    assert response.status_code == 200 and len(request_id) == 32
    (sent,) = transport.requests
    assert [v for k, v in sent.headers if k == "x-litellm-call-id"] == [request_id]  # ours, the caller's dropped

    emf = _emf(capsys.readouterr().out, request_id)
    assert (emf["service"], emf["route"], emf["model"], emf["InputTokens"], emf["OutputTokens"]) == (
        "openai-chat",
        "/v1/chat/completions",
        "m",
        [4.0],
        [2.0],
    )
    (record,) = [r for r in logged.records if getattr(r, "request_id", None) == request_id]
    assert (record.status, record.route, record.litellm_status, record.tokens) == (  # type: ignore[attr-defined]
        200,
        "/v1/chat/completions",
        200,
        {"input": 4, "output": 2, "cache_read": 0, "cache_write": 0},
    )
    assert not hasattr(record, "content")
    assert "sk-caller-key" not in json.dumps(record.__dict__, default=str)


def test_api_gateway_request_id_is_used_when_the_web_adapter_passes_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    client, transport = _client(monkeypatch)
    context = json.dumps({"resourcePath": "/v1/chat/completions", "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"})
    response = client.post(
        "/v1/chat/completions",
        json={"model": "m", "messages": []},
        headers={"x-amzn-request-context": context, "Authorization": "Bearer sk-a"},
    )
    assert response.headers["x-gateway-request-id"] == "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    assert dict(transport.requests[0].headers)["x-litellm-call-id"] == "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    assert _emf(capsys.readouterr().out, "c6af9ac6-7b61-11e6-9a41-93e8deadbeef")["Requests"] == [1.0]


def test_stream_tokens_without_showing_the_caller_a_usage_chunk(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    client, transport = _client(monkeypatch)
    response = client.post(
        "/v1/chat/completions",
        json={"model": "m", "stream": True, "messages": []},
        headers={"Authorization": "Bearer k"},
    )
    assert b'"usage"' not in response.content and response.content.endswith(b"data: [DONE]\n\n")
    assert json.loads(transport.requests[0].content)["stream_options"] == {"include_usage": True}
    emf = _emf(capsys.readouterr().out, response.headers["x-gateway-request-id"])
    assert (emf["OutputTokens"], len(emf["TimeToFirstByte"])) == ([2.0], 1)


def test_content_is_logged_only_when_on_and_then_redacted(monkeypatch: pytest.MonkeyPatch, logged: Records) -> None:
    client, _ = _client(monkeypatch, log_content=True)
    body = {"model": "m", "messages": [{"role": "user", "content": "my key is sk-abcdef123456"}], "api_key": "x"}
    response = client.post("/v1/chat/completions", json=body, headers={"Authorization": "Bearer sk-caller-key-abcdef"})
    get_settings.cache_clear()
    request_id = response.headers["x-gateway-request-id"]
    (record,) = [r for r in logged.records if getattr(r, "request_id", None) == request_id]
    content = record.content  # type: ignore[attr-defined]
    assert content["request"] == {
        "model": "m",
        "messages": [{"role": "user", "content": f"my key is {REDACTED}"}],
        "api_key": REDACTED,
    }
    assert content["response"]["choices"][0]["message"]["content"] == f"ok {REDACTED}"
    assert "sk-caller-key" not in json.dumps(record.__dict__, default=str)


def test_redaction_rules() -> None:
    assert redact(
        {
            "Authorization": "Bearer abc.def.ghi-123",
            "key_alias": "kept",
            "max_tokens": 5,
            "nested": [{"master_key": "m", "text": "token eyJhbGciOi.eyJzdWIiOi.sig and Bearer sk-zzzzzzzzzz"}],
            "Session_Token": "plain",
        }
    ) == {
        "Authorization": REDACTED,
        "key_alias": "kept",
        "max_tokens": 5,
        "nested": [{"master_key": REDACTED, "text": f"token {REDACTED} and {REDACTED}"}],
        "Session_Token": REDACTED,
    }


class Emitted:
    def __init__(self) -> None:
        self.documents: list[dict[str, Any]] = []

    def send_entity(self, entity: Any) -> None:
        self.documents.append(json.loads(entity.serialize()))


def test_in_lambda_the_request_is_a_subsegment_of_lambdas_segment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracing, "_enabled", True)
    monkeypatch.setattr(tracing, "_IN_LAMBDA", True)
    monkeypatch.setattr(tracing, "_tracer", None)  # built here, dropped after
    recorder: Any = tracing._get_tracer("openai-chat").provider
    emitted = Emitted()
    monkeypatch.setattr(recorder, "_emitter", emitted)
    header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    trace = tracing.begin_request("openai-chat", "POST", header, from_runtime=False)
    assert trace is not None
    span = tracing.start_span("litellm")
    assert span is not None
    span.http("POST", "/v1/chat/completions", 200)
    span.end()
    trace.finish("POST", "/v1/chat/completions", 200, {"route": "/v1/chat/completions"})
    (document,) = emitted.documents
    assert (document["name"], document["type"], document["parent_id"], document["trace_id"]) == (
        "## openai-chat",
        "subsegment",
        "53995c3f42cd8ad8",
        "1-5759e988-bd862e3fe1be46a994272793",
    )
    assert document["annotations"] == {"route": "/v1/chat/completions"}
    (child,) = document["subsegments"]
    assert (child["name"], child["http"]["response"]["status"]) == ("litellm", 200)

    unsampled = "Root=1-5759e988-bd862e3fe1be46a994272794;Parent=53995c3f42cd8ad8;Sampled=0"
    quiet = tracing.begin_request("openai-chat", "POST", unsampled, from_runtime=False)
    assert quiet is not None and tracing.start_span("litellm") is None
    quiet.finish("POST", "/", 200, {})
    assert len(emitted.documents) == 1  # nothing sent for an unsampled request
    assert tracing._request.get().stack == []  # type: ignore[union-attr]  # nor any entity made for it
    assert tracing.begin_request("openai-chat", "POST", None, from_runtime=False) is None  # no Lambda trace header


def test_the_request_and_its_litellm_call_are_traced_from_their_own_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """Entities are made when needed (an AWS call, or the end), never on the way to LiteLLM, and
    still say when the request and the call began."""
    monkeypatch.setattr(tracing, "_enabled", True)
    monkeypatch.setattr(tracing, "_IN_LAMBDA", False)
    monkeypatch.setattr(tracing, "_tracer", None)
    recorder: Any = tracing._get_tracer("openai-chat").provider
    emitted = Emitted()
    monkeypatch.setattr(recorder, "_emitter", emitted)
    now = [1000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    trace = tracing.begin_request("openai-chat", "POST", None, from_runtime=False)
    assert trace is not None
    now[0] = 1001.0
    span = tracing.start_span("litellm")
    assert span is not None
    span.http("POST", "/v1/chat/completions", 200)
    assert tracing._request.get().stack == []  # type: ignore[union-attr]  # nothing made yet
    now[0] = 1002.0
    recorder.begin_subsegment("DynamoDB", "aws")  # what the botocore patch does: the segment is made now
    now[0] = 1003.0
    recorder.end_subsegment()
    now[0] = 1004.0
    span.end()
    failed = tracing.start_span("litellm")
    assert failed is not None
    failed.fail()
    failed.end()
    now[0] = 1005.0
    trace.finish("POST", "/v1/chat/completions", 200, {"route": "/v1/chat/completions"})
    # The AWS call's subsegment is streamed as soon as it ends (Powertools sets the SDK's streaming
    # threshold to 0), the segment with the rest when the request ends.
    dynamodb, document = emitted.documents
    assert (document["name"], document["start_time"], document["end_time"]) == ("openai-chat", 1000.0, 1005.0)
    assert (dynamodb["name"], dynamodb["parent_id"], dynamodb["start_time"], dynamodb["end_time"]) == (
        "DynamoDB",
        document["id"],
        1002.0,
        1003.0,
    )
    litellm, failed_call = document["subsegments"]
    assert (litellm["name"], litellm["start_time"], litellm["end_time"]) == ("litellm", 1001.0, 1004.0)
    assert ("fault" in litellm, failed_call["fault"]) == (False, True)
    assert litellm["http"] == {
        "request": {"method": "POST", "url": "/v1/chat/completions"},
        "response": {"status": 200},
    }
    assert trace.trace_id == document["trace_id"]
