"""Chat history through the functions' real routes: what a turn sends to LiteLLM, what it
stores, and who may read, continue, list or delete a session.

The OpenAI, Bedrock and history apps run as deployed (Starlette, their routes, error shapes);
LiteLLM is faked in process (``tests.unit.fake_litellm``); DynamoDB is moto's.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from bedrock_runtime.app import create_app as bedrock_app
from botocore.eventstream import EventStreamBuffer
from gateway_core.errors import ServiceUnavailableError
from gateway_core.history import store as store_module
from gateway_core.history.records import SessionItem
from gateway_core.settings import get_settings
from openai_chat.app import create_app as openai_app
from pynamodb.exceptions import GetError, QueryError
from starlette.testclient import TestClient

from tests.unit.conftest import Gateway, dynamodb_requests
from tests.unit.fake_litellm import MASTER_KEY

SYSTEM = {"role": "system", "content": "Be brief."}
ONE = {"role": "user", "content": "one"}
TWO = {"role": "user", "content": "two"}
HELLO = {"role": "assistant", "content": "Hello."}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def openai(gateway: Gateway) -> TestClient:
    return TestClient(openai_app(litellm=gateway.litellm.client()))


def bedrock(gateway: Gateway) -> TestClient:
    return TestClient(bedrock_app(litellm=gateway.litellm.client()))


def sse_data(raw: bytes) -> list[Any]:
    lines = [line[len("data: ") :] for line in raw.decode().split("\n") if line.startswith("data: ")]
    return [line if line == "[DONE]" else json.loads(line) for line in lines]


def frames(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event type, payload) of each AWS event-stream frame, decoded by botocore."""
    buffer = EventStreamBuffer()
    buffer.add_data(raw)
    return [(str(m.headers[":event-type"]), json.loads(m.payload)) for m in buffer]


def start_session(gateway: Gateway, key: str = "sk-alice") -> str:
    body = {"model": "m", "enable_history": True, "messages": [SYSTEM, ONE, TWO]}
    response = openai(gateway).post("/v1/chat/completions", json=body, headers=auth(key))
    assert response.status_code == 200, response.text
    session_id: str = response.json()["session_id"]
    return session_id


def test_a_new_session_sends_the_request_as_is_and_stores_the_whole_turn(gateway: Gateway) -> None:
    body = {"model": "m", "enable_history": True, "messages": [SYSTEM, ONE, TWO]}
    response = openai(gateway).post("/v1/chat/completions", json=body, headers=auth("sk-alice"))
    assert response.status_code == 200
    session_id = response.json()["session_id"]
    assert response.headers["x-session-id"] == session_id and response.headers["x-history-saved"] == "true"
    assert response.json()["choices"][0]["message"] == HELLO
    assert gateway.litellm.chats == [{"model": "m", "messages": [SYSTEM, ONE, TWO]}]  # enable_history removed
    session = gateway.store.get(session_id)
    assert (session.owner, session.system) == ("user:alice", [SYSTEM])
    assert gateway.store.messages(session_id) == [ONE, TWO, HELLO]


def test_every_new_session_gets_its_own_random_id(gateway: Gateway) -> None:
    first, second = start_session(gateway), start_session(gateway)
    assert first != second
    assert all(uuid.UUID(session_id).version == 4 for session_id in (first, second))
    assert gateway.store.messages(first) == gateway.store.messages(second) == [ONE, TWO, HELLO]


def test_a_continued_turn_sends_the_history_first_and_stores_every_new_message(gateway: Gateway) -> None:
    session_id = start_session(gateway)
    three, four = {"role": "user", "content": "three"}, {"role": "user", "content": "four"}
    gateway.litellm.reply = "Bye."
    body = {"model": "m", "session_id": session_id, "messages": [three, four]}
    response = openai(gateway).post("/v1/chat/completions", json=body, headers=auth("sk-alice-2"))  # same person
    assert response.status_code == 200 and response.json()["session_id"] == session_id
    assert gateway.litellm.chats[-1] == {"model": "m", "messages": [SYSTEM, ONE, TWO, HELLO, three, four]}
    bye = {"role": "assistant", "content": "Bye."}
    assert gateway.store.messages(session_id) == [ONE, TWO, HELLO, three, four, bye]
    read = gateway.history.post("/chat-history", json={"session_id": session_id}, headers=auth("sk-alice"))
    assert read.json() == {
        "session_id": session_id,
        "messages": [SYSTEM, ONE, TWO, HELLO, three, four, bye],
        "next_token": None,
    }


def test_a_new_system_prompt_replaces_the_stored_one(gateway: Gateway) -> None:
    session_id = start_session(gateway)
    longer = {"role": "developer", "content": "Be thorough."}
    body = {"model": "m", "session_id": session_id, "messages": [longer, ONE]}
    assert openai(gateway).post("/v1/chat/completions", json=body, headers=auth("sk-alice")).status_code == 200
    assert gateway.litellm.chats[-1]["messages"] == [longer, ONE, TWO, HELLO, ONE]
    assert gateway.store.get(session_id).system == [longer]


def test_a_streamed_turn_tells_the_session_first_and_stores_the_joined_answer(gateway: Gateway) -> None:
    session_id = start_session(gateway)
    body = {"model": "m", "stream": True, "session_id": session_id, "messages": [ONE]}
    response = openai(gateway).post("/v1/chat/completions", json=body, headers=auth("sk-alice"))
    assert response.status_code == 200 and response.headers["x-session-id"] == session_id
    assert gateway.litellm.chats[-1] == {
        "model": "m",
        "stream": True,
        "messages": [SYSTEM, ONE, TWO, HELLO, ONE],
        "stream_options": {"include_usage": True},  # for the metrics; the caller does not see it
    }
    events = sse_data(response.content)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert chunks[0]["session_id"] == session_id and all("session_id" not in c for c in chunks[1:])
    assert [c["choices"][0]["delta"].get("content") for c in chunks] == ["Hel", "lo.", None]
    assert all(c.get("usage") is None for c in chunks)  # the usage-only chunk the caller did not ask for
    assert gateway.store.messages(session_id) == [ONE, TWO, HELLO, ONE, HELLO]


def test_a_failed_answer_is_relayed_and_stores_nothing(gateway: Gateway) -> None:
    gateway.litellm.status, gateway.litellm.error = 429, {"error": {"message": "rate limited", "code": "429"}}
    body = {"model": "m", "enable_history": True, "messages": [ONE]}
    response = openai(gateway).post("/v1/chat/completions", json=body, headers=auth("sk-alice"))
    assert (response.status_code, response.json()) == (429, {"error": {"message": "rate limited", "code": "429"}})
    assert gateway.store.list("user:alice", 10, None)[0] == []


CONVERSE = {
    "messages": [{"role": "user", "content": [{"text": "one"}]}],
    "system": [{"text": "Sys"}],
    "inferenceConfig": {"maxTokens": 7},
}
SENT_MESSAGES = [
    {"role": "system", "content": [{"type": "text", "text": "Sys"}]},
    {"role": "user", "content": [{"type": "text", "text": "one"}]},
]


def test_converse_with_history_keeps_the_other_additional_fields(gateway: Gateway) -> None:
    body = {**CONVERSE, "additionalModelRequestFields": {"enable_history": True, "top_k": 5}}
    response = bedrock(gateway).post("/bedrock/model/m/converse", json=body, headers=auth("sk-alice"))
    assert response.status_code == 200, response.text
    assert response.json()["output"] == {"message": {"role": "assistant", "content": [{"text": "Hello."}]}}
    assert response.headers["x-history-saved"] == "true"
    session_id = response.headers["x-session-id"]
    assert gateway.litellm.chats == [{"model": "m", "messages": SENT_MESSAGES, "max_tokens": 7, "top_k": 5}]
    assert gateway.store.messages(session_id) == [SENT_MESSAGES[1], HELLO]
    assert gateway.store.get(session_id).system == [SENT_MESSAGES[0]]
    assert gateway.store.get(session_id).model == "m"


def test_converse_stream_continues_a_session_with_the_same_translation(gateway: Gateway) -> None:
    session_id = start_session(gateway)
    body = {**CONVERSE, "additionalModelRequestFields": {"session_id": session_id, "top_k": 5}}
    response = bedrock(gateway).post("/bedrock/model/m/converse-stream", json=body, headers=auth("sk-alice"))
    assert response.status_code == 200 and response.headers["x-session-id"] == session_id
    assert gateway.litellm.chats[-1] == {
        "model": "m",
        "messages": [SENT_MESSAGES[0], ONE, TWO, HELLO, SENT_MESSAGES[1]],
        "max_tokens": 7,
        "top_k": 5,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    events = frames(response.content)
    assert [kind for kind, _ in events] == [
        "messageStart",
        "contentBlockDelta",
        "contentBlockDelta",
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    assert "".join(p["delta"]["text"] for kind, p in events if kind == "contentBlockDelta") == "Hello."
    assert gateway.store.messages(session_id) == [ONE, TWO, HELLO, SENT_MESSAGES[1], HELLO]


@pytest.mark.parametrize("path", ["/bedrock/model/m/converse", "/bedrock/model/m/converse-stream"])
def test_additional_model_request_fields_reach_litellm_on_both_paths(gateway: Gateway, path: str) -> None:
    body = {**CONVERSE, "additionalModelRequestFields": {"top_k": 5, "thinking": {"type": "enabled"}}}
    assert bedrock(gateway).post(path, json=body, headers=auth("sk-alice")).status_code == 200
    (sent,) = gateway.litellm.chats
    assert (sent["top_k"], sent["thinking"]) == (5, {"type": "enabled"})


# Ownership: another person's session answers exactly like a missing one, and nothing changes.


def alices_session(gateway: Gateway) -> str:
    gateway.store.append("alices", "user:alice", [ONE, HELLO], create=True, model="m", system=[SYSTEM])
    return "alices"


def not_found(session_id: str) -> dict[str, Any]:
    return {
        "error": {
            "message": f"Session {session_id} not found",
            "type": "not_found_error",
            "param": "session_id",
            "code": "not_found",
        }
    }


def test_another_owner_cannot_read_a_session_and_cannot_tell_it_exists(gateway: Gateway) -> None:
    alices_session(gateway)
    theirs = gateway.history.post("/chat-history", json={"session_id": "alices"}, headers=auth("sk-mallory"))
    assert (theirs.status_code, theirs.json()) == (404, not_found("alices"))
    converse = gateway.history.post("/bedrock/chat-history", json={"session_id": "alices"}, headers=auth("sk-mallory"))
    assert converse.status_code == 404 and converse.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    missing = gateway.history.post("/chat-history", json={"session_id": "nobodys"}, headers=auth("sk-mallory"))
    assert (missing.status_code, missing.json()) == (404, not_found("nobodys"))
    own = gateway.history.post("/chat-history", json={"session_id": "alices"}, headers=auth("sk-alice"))
    assert own.json()["messages"] == [SYSTEM, ONE, HELLO]


def test_another_owner_cannot_continue_a_session(gateway: Gateway) -> None:
    alices_session(gateway)
    body = {"model": "m", "session_id": "alices", "messages": [TWO]}
    response = openai(gateway).post("/v1/chat/completions", json=body, headers=auth("sk-mallory"))
    assert (response.status_code, response.json()) == (404, not_found("alices"))
    converse = {**CONVERSE, "additionalModelRequestFields": {"session_id": "alices"}}
    for path in ("/bedrock/model/m/converse", "/bedrock/model/m/converse-stream"):
        refused = bedrock(gateway).post(path, json=converse, headers=auth("sk-mallory"))
        assert refused.status_code == 404 and refused.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    assert gateway.litellm.chats == []  # refused before any model call
    assert gateway.store.messages("alices") == [ONE, HELLO]


def test_another_owner_cannot_delete_a_session(gateway: Gateway) -> None:
    alices_session(gateway)
    refused = gateway.history.delete("/chat-history/alices", headers=auth("sk-mallory"))
    assert (refused.status_code, refused.json()) == (404, not_found("alices"))
    assert gateway.store.get("alices") is not None and gateway.store.messages("alices") == [ONE, HELLO]
    deleted = gateway.history.delete("/chat-history/alices", headers=auth("sk-alice"))
    assert deleted.json() == {"session_id": "alices", "deleted": True, "messages_deleted": 2}
    assert gateway.store.get("alices") is None
    gone = gateway.history.post("/chat-history", json={"session_id": "alices"}, headers=auth("sk-alice"))
    assert gone.status_code == 404


def test_listing_shows_only_the_callers_sessions(gateway: Gateway) -> None:
    alices_session(gateway)
    gateway.store.append("mallorys", "user:mallory", [TWO], create=True, model="m", system=None)
    alice = gateway.history.post("/session-ids", json={}, headers=auth("sk-alice")).json()
    mallory = gateway.history.post("/session-ids", json={}, headers=auth("sk-mallory")).json()
    assert (alice["session_ids"], alice["next_token"]) == (["alices"], None)
    assert (mallory["session_ids"], mallory["next_token"]) == (["mallorys"], None)


def test_the_master_key_reads_and_deletes_any_session(gateway: Gateway) -> None:
    alices_session(gateway)
    read = gateway.history.post("/chat-history", json={"session_id": "alices"}, headers=auth(MASTER_KEY))
    assert read.json()["messages"] == [SYSTEM, ONE, HELLO]
    deleted = gateway.history.delete("/chat-history/alices", headers=auth(MASTER_KEY))
    assert deleted.json() == {"session_id": "alices", "deleted": True, "messages_deleted": 2}
    assert gateway.litellm.key_questions == 0  # the master key is recognised without asking LiteLLM


def test_history_needs_a_key_litellm_accepts(gateway: Gateway) -> None:
    alices_session(gateway)
    for headers in ({}, auth("sk-unknown"), {"Authorization": "Basic sk-alice"}):
        response = gateway.history.post("/chat-history", json={"session_id": "alices"}, headers=headers)
        assert response.status_code == 401 and response.json()["error"]["type"] == "authentication_error"


@pytest.mark.parametrize("stream", [False, True])
def test_a_session_deleted_while_the_model_answers_still_gives_the_answer(gateway: Gateway, stream: bool) -> None:
    """Deleted during the turn (by the LiteLLM hook, at a known point): the answer arrives, the
    turn says it was not saved, and the session is not brought back."""
    session_id = start_session(gateway)
    gateway.litellm.thinking = lambda: gateway.store.delete(session_id)
    body = {"model": "m", "stream": stream, "session_id": session_id, "messages": [ONE]}
    response = openai(gateway).post("/v1/chat/completions", json=body, headers=auth("sk-alice"))
    assert response.status_code == 200
    if stream:
        assert response.content.endswith(b": history not saved\n\ndata: [DONE]\n\n")
        assert [c["choices"][0]["delta"].get("content") for c in sse_data(response.content)[:-1]] == [
            "Hel",
            "lo.",
            None,
        ]
    else:
        assert response.headers["x-history-saved"] == "false"
        assert response.json()["choices"][0]["message"] == HELLO
    assert gateway.store.get(session_id) is None and gateway.store.messages(session_id) == []


def test_a_converse_turn_whose_session_was_deleted_meanwhile_says_it_was_not_saved(gateway: Gateway) -> None:
    session_id = start_session(gateway)
    gateway.litellm.thinking = lambda: gateway.store.delete(session_id)
    body = {**CONVERSE, "additionalModelRequestFields": {"session_id": session_id}}
    response = bedrock(gateway).post("/bedrock/model/m/converse", json=body, headers=auth("sk-alice"))
    assert response.status_code == 200
    assert response.headers["x-history-saved"] == "false"
    assert response.json()["output"]["message"] == {"role": "assistant", "content": [{"text": "Hello."}]}
    assert gateway.store.get(session_id) is None


def _tool_call_delta(call: dict[str, Any]) -> dict[str, Any]:
    return {"model": "m", "choices": [{"index": 0, "delta": {"tool_calls": [call]}}]}


def test_a_streamed_turn_stores_its_tool_calls_joined_from_their_deltas(gateway: Gateway) -> None:
    gateway.litellm.stream_chunks = [
        _tool_call_delta(
            {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_", "arguments": ""}}
        ),
        _tool_call_delta({"index": 0, "function": {"name": "weather", "arguments": '{"city":'}}),
        _tool_call_delta(
            {"index": 1, "id": "call_2", "type": "function", "function": {"name": "now", "arguments": "{}"}}
        ),
        _tool_call_delta({"function": {"arguments": '"Oslo"}'}}),  # no index: the first call's
        {"model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    ]
    body = {"model": "m", "stream": True, "enable_history": True, "messages": [ONE]}
    response = openai(gateway).post("/v1/chat/completions", json=body, headers=auth("sk-alice"))
    assert response.status_code == 200
    assert gateway.store.messages(response.headers["x-session-id"]) == [
        ONE,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                },
                {"id": "call_2", "type": "function", "function": {"name": "now", "arguments": "{}"}},
            ],
        },
    ]


def test_converse_history_renders_an_image_without_url_and_thinking_without_text(gateway: Gateway) -> None:
    image = {"role": "user", "content": [{"type": "image_url", "image_url": {}}]}
    thought = {"role": "assistant", "content": "ok", "thinking_blocks": [{"type": "thinking", "signature": "sig"}]}
    gateway.store.append("alices", "user:alice", [image, thought], create=True, model="m", system=None)
    read = gateway.history.post("/bedrock/chat-history", json={"session_id": "alices"}, headers=auth("sk-alice"))
    assert read.json()["messages"] == [
        {"role": "user", "content": [{"text": "[image: ]"}]},
        {
            "role": "assistant",
            "content": [{"reasoningContent": {"reasoningText": {"text": "", "signature": "sig"}}}, {"text": "ok"}],
        },
    ]


def test_listed_sessions_carry_their_times_in_utc(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "_now_ms", lambda: 1_700_000_000_123)  # 2023-11-14 22:13:20.123 UTC
    alices_session(gateway)
    listed = gateway.history.post("/session-ids", json={}, headers=auth("sk-alice")).json()
    assert listed["sessions"] == [
        {
            "session_id": "alices",
            "created_at": "2023-11-14T22:13:20.123Z",
            "updated_at": "2023-11-14T22:13:20.123Z",
            "message_count": 2,
            "model": "m",
        }
    ]


def _emf(out: str, request_id: str) -> dict[str, Any]:
    """The request's EMF metrics line (printed to stdout at the end of each request)."""
    (line,) = [doc for doc in map(json.loads, out.splitlines()) if doc.get("request_id") == request_id]
    return dict(line)


def test_a_stored_turn_is_counted_and_an_empty_answer_is_kept_as_empty_text(
    gateway: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway.litellm.reply = ""
    body = {"model": "m", "enable_history": True, "messages": [ONE]}
    capsys.readouterr()
    response = openai(gateway).post("/v1/chat/completions", json=body, headers=auth("sk-alice"))
    assert (response.status_code, response.headers["x-history-saved"]) == (200, "true")
    emf = _emf(capsys.readouterr().out, response.headers["x-gateway-request-id"])
    assert (emf["HistoryTurnsStored"], "HistoryStoreFailures" in emf) == ([1.0], False)
    # No text and no tool calls: replayed as "" (a null content is only valid beside tool calls).
    assert gateway.store.messages(response.headers["x-session-id"]) == [ONE, {"role": "assistant", "content": ""}]


def test_a_turn_the_store_refuses_is_answered_logged_and_counted(
    gateway: Gateway,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    def refuse(*_: Any, **__: Any) -> None:
        raise ServiceUnavailableError("Chat history could not be stored") from OSError("table unavailable")

    monkeypatch.setattr(gateway.store, "append", refuse)
    body = {"model": "m", "enable_history": True, "messages": [ONE]}
    with caplog.at_level("WARNING", logger="gateway"):
        response = openai(gateway).post("/v1/chat/completions", json=body, headers=auth("sk-alice"))
    assert (response.status_code, response.headers["x-history-saved"]) == (200, "false")
    session_id = response.headers["x-session-id"]
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        f"history not saved for session {session_id}: table unavailable"
    ]
    emf = _emf(capsys.readouterr().out, response.headers["x-gateway-request-id"])
    assert (emf["HistoryStoreFailures"], "HistoryTurnsStored" in emf) == ([1.0], False)


def test_a_turn_on_a_deleted_session_is_logged_and_counted(
    gateway: Gateway, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    session_id = start_session(gateway)
    gateway.litellm.thinking = lambda: gateway.store.delete(session_id)
    body = {"model": "m", "session_id": session_id, "messages": [ONE]}
    capsys.readouterr()
    with caplog.at_level("WARNING", logger="gateway"):
        response = openai(gateway).post("/v1/chat/completions", json=body, headers=auth("sk-alice"))
    assert response.headers["x-history-saved"] == "false"
    assert f"history not saved: session {session_id} was deleted during the turn" in [
        r.getMessage() for r in caplog.records
    ]
    assert _emf(capsys.readouterr().out, response.headers["x-gateway-request-id"])["HistoryStoreFailures"] == [1.0]


def test_a_session_remembers_the_model_of_its_turns(gateway: Gateway) -> None:
    session_id = start_session(gateway)
    listed = gateway.history.post("/session-ids", json={}, headers=auth("sk-alice")).json()
    assert [(s["session_id"], s["model"]) for s in listed["sessions"]] == [(session_id, "m")]


@pytest.mark.parametrize(("path", "limit", "maximum"), [("/chat-history", 0, 1000), ("/session-ids", 101, 100)])
def test_a_limit_out_of_range_is_a_400_saying_the_range(gateway: Gateway, path: str, limit: int, maximum: int) -> None:
    alices_session(gateway)
    response = gateway.history.post(path, json={"session_id": "alices", "limit": limit}, headers=auth("sk-alice"))
    assert response.status_code == 400
    assert (response.json()["error"]["message"], response.json()["error"]["param"]) == (
        f"limit must be an integer from 1 to {maximum}",
        "limit",
    )


@pytest.mark.parametrize(
    ("path", "body", "message", "param"),
    [
        ("/chat-history", {}, "session_id is required", "session_id"),
        ("/chat-history", {"session_id": ""}, "session_id is required", "session_id"),
    ],
)
def test_a_history_read_without_a_session_is_a_400_naming_it(
    gateway: Gateway, path: str, body: dict[str, Any], message: str, param: str
) -> None:
    response = gateway.history.post(path, json=body, headers=auth("sk-alice"))
    assert response.status_code == 400
    assert (response.json()["error"]["message"], response.json()["error"]["param"]) == (message, param)


def test_enable_history_that_is_not_a_boolean_is_a_400_naming_it(gateway: Gateway) -> None:
    body = {"model": "m", "enable_history": "yes", "messages": [ONE]}
    response = openai(gateway).post("/v1/chat/completions", json=body, headers=auth("sk-alice"))
    assert response.status_code == 400
    assert (response.json()["error"]["message"], response.json()["error"]["param"]) == (
        "enable_history must be a boolean",
        "enable_history",
    )
    assert gateway.litellm.chats == []


@pytest.mark.parametrize("session_id", [5, True, ["alices"], "", "   "])
def test_a_session_id_that_is_not_a_non_empty_string_is_a_400_on_both_routes(gateway: Gateway, session_id: Any) -> None:
    alices_session(gateway)
    body = {"model": "m", "session_id": session_id, "messages": [ONE]}
    response = openai(gateway).post("/v1/chat/completions", json=body, headers=auth("sk-alice"))
    assert response.status_code == 400
    assert (response.json()["error"]["message"], response.json()["error"]["param"]) == (
        "session_id must be a non-empty string",
        "session_id",
    )
    converse = {**CONVERSE, "additionalModelRequestFields": {"session_id": session_id}}
    response = bedrock(gateway).post("/bedrock/model/m/converse", json=converse, headers=auth("sk-alice"))
    assert (response.status_code, response.headers["x-amzn-ErrorType"]) == (400, "ValidationException")
    assert response.json() == {"message": "session_id must be a non-empty string"}
    assert gateway.litellm.chats == []


def test_history_on_a_gateway_without_a_history_table_is_a_400_saying_so(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_id = start_session(gateway)
    monkeypatch.delenv("GATEWAY_HISTORY_TABLE")
    get_settings.cache_clear()
    said = "Chat history is not enabled on this gateway (no history table configured)"
    body = {"model": "m", "enable_history": True, "messages": [ONE]}
    response = openai(gateway).post("/v1/chat/completions", json=body, headers=auth("sk-alice"))
    assert (response.status_code, response.json()["error"]["message"]) == (400, said)
    converse = {**CONVERSE, "additionalModelRequestFields": {"session_id": session_id}}
    response = bedrock(gateway).post("/bedrock/model/m/converse", json=converse, headers=auth("sk-alice"))
    assert (response.status_code, response.json()) == (400, {"message": said})
    response = gateway.history.post("/chat-history", json={"session_id": session_id}, headers=auth("sk-alice"))
    assert (response.status_code, response.json()["error"]["message"]) == (400, said)
    assert len(gateway.litellm.chats) == 1  # the first turn's only


def test_a_session_read_the_table_refuses_is_a_503(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    alices_session(gateway)

    def refuse(*_: Any, **__: Any) -> Any:
        raise GetError("table unavailable")

    monkeypatch.setattr(SessionItem, "get", refuse)
    response = gateway.history.post("/chat-history", json={"session_id": "alices"}, headers=auth("sk-alice"))
    assert (response.status_code, response.json()["error"]["message"]) == (503, "Chat history is unavailable")


@pytest.mark.parametrize(("path", "limit"), [("/chat-history", True), ("/session-ids", False), ("/chat-history", 2.0)])
def test_a_limit_that_is_not_an_integer_is_a_400(gateway: Gateway, path: str, limit: Any) -> None:
    alices_session(gateway)
    response = gateway.history.post(path, json={"session_id": "alices", "limit": limit}, headers=auth("sk-alice"))
    assert (response.status_code, response.json()["error"]["param"]) == (400, "limit")


@pytest.mark.parametrize(("path", "limit"), [("/chat-history", 1000), ("/session-ids", 100)])
def test_the_largest_limit_is_accepted(gateway: Gateway, path: str, limit: int) -> None:
    alices_session(gateway)
    response = gateway.history.post(path, json={"session_id": "alices", "limit": limit}, headers=auth("sk-alice"))
    assert response.status_code == 200, response.text


def test_a_blank_body_is_an_empty_request(gateway: Gateway) -> None:
    alices_session(gateway)
    listed = gateway.history.post("/session-ids", content=b"", headers=auth("sk-alice"))
    assert (listed.status_code, [s["session_id"] for s in listed.json()["sessions"]]) == (200, ["alices"])
    read = gateway.history.post("/chat-history", content=b" ", headers=auth("sk-alice"))
    assert (read.status_code, read.json()["error"]["message"]) == (400, "session_id is required")


def test_a_history_read_sees_every_write_before_it(gateway: Gateway) -> None:
    """The session and its messages are read consistently (moto always is: the requests show it)."""
    alices_session(gateway)

    def read() -> None:
        assert gateway.history.post("/chat-history", json={"session_id": "alices"}, headers=auth("sk-alice")).is_success

    sent = dynamodb_requests(read)
    assert [(op, params.get("ConsistentRead")) for op, params in sent] == [("GetItem", True), ("Query", True)]


def test_a_listing_the_table_refuses_is_a_503(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any, **__: Any) -> Any:
        raise QueryError("table unavailable")

    monkeypatch.setattr(SessionItem.by_owner, "query", refuse)
    response = gateway.history.post("/session-ids", json={}, headers=auth("sk-alice"))
    assert (response.status_code, response.json()["error"]["message"]) == (503, "Chat history is unavailable")
