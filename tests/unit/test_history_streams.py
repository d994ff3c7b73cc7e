"""A history turn streamed through the OpenAI route: what is relayed and what is stored when
LiteLLM's stream fails midway, ends without [DONE], carries comments or data lines without their
space, reasoning, usage, a new model or system prompt, or loses its connection."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from tests.unit.conftest import Gateway
from tests.unit.fake_litellm import sse_chunks
from tests.unit.test_history_turns import HELLO, ONE, TWO, auth, openai, sse_data, start_session


def streamed_turn(gateway: Gateway, lines: list[str]) -> tuple[str, list[Any]]:
    session_id = start_session(gateway)
    gateway.litellm.stream_lines = lines
    body = {"model": "m", "stream": True, "session_id": session_id, "messages": [ONE]}
    response = openai(gateway).post("/v1/chat/completions", json=body, headers=auth("sk-alice"))
    assert response.status_code == 200, response.text
    return session_id, sse_data(response.content)


def test_a_stream_that_fails_midway_is_relayed_and_stores_nothing(gateway: Gateway) -> None:
    hel, *_ = sse_chunks(["Hel"])
    failure = {"error": {"message": "provider went away", "code": "500"}}
    session_id, events = streamed_turn(gateway, [f"data: {json.dumps(hel)}", "", f"data: {json.dumps(failure)}", ""])
    assert events == [{**hel, "session_id": session_id}, failure]  # and no [DONE]
    assert gateway.store.messages(session_id) == [ONE, TWO, HELLO]


def test_a_stream_that_ends_without_done_gets_no_done_from_the_gateway(gateway: Gateway) -> None:
    hello = sse_chunks(["Hello."])[:2]
    session_id, events = streamed_turn(gateway, [f"data: {json.dumps(c)}\n" for c in hello])
    assert events == [{**hello[0], "session_id": session_id}, hello[1]]
    assert gateway.store.messages(session_id) == [ONE, TWO, HELLO, ONE, HELLO]  # what was answered


def test_only_data_lines_are_read_with_or_without_their_space(gateway: Gateway) -> None:
    hel, lo, stop, _ = sse_chunks(["Hel", "lo."])
    lines = [':    {"error": "a comment, not data"}', f"data:{json.dumps(hel)}", f"data: {json.dumps(lo)}"]
    session_id, events = streamed_turn(gateway, [*lines, f"data: {json.dumps(stop)}", "data: [DONE]"])
    assert events == [{**hel, "session_id": session_id}, lo, stop, "[DONE]"]
    assert gateway.store.messages(session_id) == [ONE, TWO, HELLO, ONE, HELLO]


def test_a_streamed_turn_stores_its_reasoning_joined(gateway: Gateway) -> None:
    def chunk(delta: dict[str, Any]) -> str:
        return f"data: {json.dumps({'id': 'c', 'model': 'm', 'choices': [{'index': 0, 'delta': delta}]})}"

    deltas = [{"reasoning_content": "Let me"}, {"reasoning_content": " think."}, {"content": "Hello."}]
    session_id, _ = streamed_turn(gateway, [*(chunk(d) for d in deltas), "data: [DONE]"])
    answer = {**HELLO, "reasoning_content": "Let me think."}
    assert gateway.store.messages(session_id) == [ONE, TWO, HELLO, ONE, answer]


def test_a_streamed_turn_stores_its_model_and_new_system_prompt(gateway: Gateway) -> None:
    session_id = start_session(gateway)
    newer = {"role": "system", "content": "Be briefer."}
    body = {"model": "m2", "stream": True, "session_id": session_id, "messages": [newer, ONE]}
    response = openai(gateway).post("/v1/chat/completions", json=body, headers=auth("sk-alice"))
    assert response.status_code == 200 and sse_data(response.content)[-1] == "[DONE]"
    stored = gateway.store.get(session_id)
    assert stored is not None and (stored.model, stored.system) == ("m2", [newer])


@pytest.mark.parametrize("stream", [False, True])
def test_a_history_turns_tokens_reach_the_metrics(
    gateway: Gateway, stream: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    body = {"model": "m", "stream": stream, "enable_history": True, "messages": [ONE]}
    response = openai(gateway).post("/v1/chat/completions", json=body, headers=auth("sk-alice"))
    request_id = response.headers["x-gateway-request-id"]
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    (line,) = [doc for doc in emf if doc["request_id"] == request_id]
    assert (line["InputTokens"], line["OutputTokens"]) == ([3.0], [2.0])


def test_a_streamed_turn_keeps_the_usage_chunk_the_caller_asked_for(gateway: Gateway) -> None:
    body = {
        "model": "m",
        "stream": True,
        "stream_options": {"include_usage": True},
        "enable_history": True,
        "messages": [ONE],
    }
    response = openai(gateway).post("/v1/chat/completions", json=body, headers=auth("sk-alice"))
    *_, usage, done = sse_data(response.content)
    assert (usage["usage"], done) == ({"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}, "[DONE]")


def test_a_stream_whose_connection_drops_ends_with_the_error_and_stores_nothing(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_id = start_session(gateway)
    hel, *_ = sse_chunks(["Hel"])

    async def cut(request: Request) -> Response:
        async def events() -> AsyncIterator[bytes]:
            yield f"data: {json.dumps(hel)}\n\n".encode()
            raise RuntimeError("the connection dropped")  # the in-process transport's dropped connection

        return StreamingResponse(events(), media_type="text/event-stream")

    monkeypatch.setattr(gateway.litellm, "_chat", cut)
    body = {"model": "m", "stream": True, "session_id": session_id, "messages": [ONE]}
    response = openai(gateway).post("/v1/chat/completions", json=body, headers=auth("sk-alice"))
    failure = {
        "message": "LiteLLM is unreachable (ServerDisconnectedError)",
        "type": "api_error",
        "param": None,
        "code": "upstream_unavailable",
    }
    assert sse_data(response.content) == [{**hel, "session_id": session_id}, {"error": failure}]  # no [DONE]
    assert gateway.store.messages(session_id) == [ONE, TWO, HELLO]
