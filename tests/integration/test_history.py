"""Chat history end to end: OpenAI SDK and boto3 through the gateway, DynamoDB on moto."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import httpx
import openai
import pytest
from botocore.exceptions import ClientError

from tests.integration.conftest import IDENTITY_CACHE_TTL_S, LocalStack
from tests.integration.test_bedrock_interface import hook_client
from tests.integration.test_openai_interface import WEATHER_TOOL, new_key

pytestmark = pytest.mark.integration
ANSWER = "The quick brown fox jumps over the lazy"
ECHO = {"x-fake-echo": "true"}


def post(stack: LocalStack, path: str, key: str, body: dict[str, Any] | None = None) -> httpx.Response:
    return httpx.post(
        f"{stack.gateway_url}{path}", headers={"Authorization": f"Bearer {key}"}, json=body or {}, timeout=30
    )


def start_session(client: openai.OpenAI, text: str = "hi", **extra: Any) -> str:
    response = client.chat.completions.create(
        model="fake-gpt", messages=[{"role": "user", "content": text}], extra_body={"enable_history": True, **extra}
    )
    return str(response.model_extra["session_id"])


def sent_messages(completion: Any) -> list[dict[str, Any]]:
    """What LiteLLM sent the provider (the fake provider's echo)."""
    return list(json.loads(completion.choices[0].message.content)["messages"])


def test_openai_history_across_turns_stream_and_not(stack: LocalStack) -> None:
    client = stack.openai()
    raw = client.chat.completions.with_raw_response.create(
        model="fake-gpt",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "one"}],
        extra_body={"enable_history": True},
    )
    first = raw.parse()
    session_id = first.model_extra["session_id"]
    assert (
        uuid.UUID(session_id) and raw.headers["x-session-id"] == session_id and raw.headers["x-history-saved"] == "true"
    )

    stream = client.chat.completions.create(
        model="fake-gpt",
        messages=[{"role": "user", "content": "two"}],
        stream=True,
        extra_body={"session_id": session_id},
    )
    chunks = list(stream)
    assert getattr(chunks[0], "session_id", None) == session_id
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER

    echoed = client.chat.completions.create(
        model="fake-gpt",
        messages=[{"role": "user", "content": "three"}],
        extra_body={"session_id": session_id},
        extra_headers=ECHO,
    )
    assert sent_messages(echoed) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": ANSWER},
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": ANSWER},
        {"role": "user", "content": "three"},
    ]
    # A new system prompt replaces the stored one; it is never duplicated.
    replaced = client.chat.completions.create(
        model="fake-gpt",
        messages=[{"role": "system", "content": "Be verbose."}, {"role": "user", "content": "four"}],
        extra_body={"session_id": session_id},
        extra_headers=ECHO,
    )
    assert [m["content"] for m in sent_messages(replaced) if m["role"] == "system"] == ["Be verbose."]

    history = post(stack, "/chat-history", stack.master_key, {"session_id": session_id}).json()["messages"]
    assert [m["role"] for m in history] == ["system"] + ["user", "assistant"] * 4
    assert history[0] == {"role": "system", "content": "Be verbose."}
    assert history[3] == {"role": "user", "content": "two"} and history[4] == {"role": "assistant", "content": ANSWER}


def test_bedrock_history_converse_and_stream(stack: LocalStack) -> None:
    brt = hook_client(stack)
    first = brt.converse(
        modelId="fake-gpt",
        system=[{"text": "You are terse."}],
        messages=[{"role": "user", "content": [{"text": "one"}]}],
        additionalModelRequestFields={"enable_history": True},
    )
    session_id = first["ResponseMetadata"]["HTTPHeaders"]["x-session-id"]
    assert first["output"]["message"]["content"] == [{"text": ANSWER}]

    streamed = brt.converse_stream(
        modelId="fake-gpt",
        messages=[{"role": "user", "content": [{"text": "two"}]}],
        additionalModelRequestFields={"session_id": session_id},
    )
    assert streamed["ResponseMetadata"]["HTTPHeaders"]["x-session-id"] == session_id
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in streamed["stream"] if "contentBlockDelta" in e)
    assert text == ANSWER

    echo = hook_client(stack, headers=ECHO).converse(
        modelId="fake-gpt",
        messages=[{"role": "user", "content": [{"text": "three"}]}],
        additionalModelRequestFields={"session_id": session_id},
    )
    sent = json.loads(echo["output"]["message"]["content"][0]["text"])
    assert "enable_history" not in sent and "session_id" not in sent
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "user", "assistant", "user"]

    history = post(stack, "/bedrock/chat-history", stack.master_key, {"session_id": session_id}).json()
    assert history["system"] == [{"text": "You are terse."}]
    assert history["messages"][:4] == [
        {"role": "user", "content": [{"text": "one"}]},
        {"role": "assistant", "content": [{"text": ANSWER}]},
        {"role": "user", "content": [{"text": "two"}]},
        {"role": "assistant", "content": [{"text": ANSWER}]},
    ]
    assert len(history["messages"]) == 6


def test_tool_calls_and_results_are_stored_and_shaped_for_converse(stack: LocalStack) -> None:
    client = stack.openai()
    call = client.chat.completions.create(
        model="fake-gpt",
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=[WEATHER_TOOL],
        extra_body={"enable_history": True},
    )
    session_id = call.model_extra["session_id"]
    tool_call = call.choices[0].message.tool_calls[0]
    done = client.chat.completions.create(
        model="fake-gpt",
        messages=[{"role": "tool", "tool_call_id": tool_call.id, "content": "sunny"}],
        tools=[WEATHER_TOOL],
        extra_body={"session_id": session_id},
    )
    assert done.choices[0].message.content == "Tool result received: sunny"

    openai_history = post(stack, "/chat-history", stack.master_key, {"session_id": session_id}).json()["messages"]
    assert openai_history[1]["tool_calls"][0]["id"] == tool_call.id
    assert openai_history[2] == {"role": "tool", "tool_call_id": tool_call.id, "content": "sunny"}

    converse = post(stack, "/bedrock/chat-history", stack.master_key, {"session_id": session_id}).json()["messages"]
    assert converse[1] == {
        "role": "assistant",
        "content": [{"toolUse": {"toolUseId": tool_call.id, "name": "get_weather", "input": {"city": "fake"}}}],
    }
    assert converse[2] == {
        "role": "user",
        "content": [{"toolResult": {"toolUseId": tool_call.id, "content": [{"text": "sunny"}]}}],
    }
    assert converse[3] == {"role": "assistant", "content": [{"text": "Tool result received: sunny"}]}


def test_sessions_are_listed_newest_first_with_pagination(stack: LocalStack) -> None:
    key = new_key(stack, user_id=f"lister-{uuid.uuid4().hex[:8]}")
    client = stack.openai(key)
    created = [start_session(client, f"session {n}") for n in range(3)]
    client.chat.completions.create(
        model="fake-gpt", messages=[{"role": "user", "content": "more"}], extra_body={"session_id": created[0]}
    )

    page = post(stack, "/session-ids", key, {"limit": 2}).json()
    assert page["session_ids"] == [created[0], created[2]] and page["next_token"]
    assert page["sessions"][0]["message_count"] == 4 and page["sessions"][1]["message_count"] == 2
    assert page["sessions"][0]["created_at"] < page["sessions"][0]["updated_at"]
    rest = post(stack, "/session-ids", key, {"limit": 2, "next_token": page["next_token"]}).json()
    assert rest["session_ids"] == [created[1]] and rest["next_token"] is None
    assert post(stack, "/session-ids", key).json()["session_ids"] == [created[0], created[2], created[1]]

    assert post(stack, "/session-ids", key, {"next_token": "bm9wZQ=="}).status_code == 400
    assert post(stack, "/session-ids", key, {"limit": 0}).json()["error"]["param"] == "limit"


def test_delete_session(stack: LocalStack) -> None:
    client = stack.openai()
    session_id = start_session(client)
    deleted = httpx.delete(
        f"{stack.gateway_url}/chat-history/{session_id}", headers={"Authorization": f"Bearer {stack.master_key}"}
    )
    assert deleted.status_code == 200 and deleted.json() == {
        "session_id": session_id,
        "deleted": True,
        "messages_deleted": 2,
    }
    assert post(stack, "/chat-history", stack.master_key, {"session_id": session_id}).status_code == 404
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model="fake-gpt", messages=[{"role": "user", "content": "x"}], extra_body={"session_id": session_id}
        )
    again = httpx.delete(
        f"{stack.gateway_url}/chat-history/{session_id}", headers={"Authorization": f"Bearer {stack.master_key}"}
    )
    assert again.status_code == 404


def test_ownership_other_key_revoked_key_and_master(stack: LocalStack) -> None:
    owner = f"owner-{uuid.uuid4().hex[:8]}"
    key, same_user_key, stranger = (
        new_key(stack, user_id=owner),
        new_key(stack, user_id=owner),
        new_key(stack, user_id=f"stranger-{uuid.uuid4().hex[:8]}"),
    )
    session_id = start_session(stack.openai(key))

    assert (
        post(stack, "/chat-history", same_user_key, {"session_id": session_id}).status_code == 200
    )  # owned by the user
    assert post(stack, "/chat-history", stack.master_key, {"session_id": session_id}).status_code == 200
    missing = post(stack, "/chat-history", stranger, {"session_id": str(uuid.uuid4())})
    theirs = post(stack, "/chat-history", stranger, {"session_id": session_id})
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["error"]["message"] == f"Session {session_id} not found"
    assert (
        post(stack, "/bedrock/chat-history", stranger, {"session_id": session_id}).headers["x-amzn-ErrorType"]
        == "ResourceNotFoundException"
    )
    assert session_id not in post(stack, "/session-ids", stranger).json()["session_ids"]
    with pytest.raises(openai.NotFoundError):
        stack.openai(stranger).chat.completions.create(
            model="fake-gpt", messages=[{"role": "user", "content": "x"}], extra_body={"session_id": session_id}
        )
    with pytest.raises(ClientError) as refused:
        hook_client(stack, stranger).converse(
            modelId="fake-gpt",
            messages=[{"role": "user", "content": [{"text": "x"}]}],
            additionalModelRequestFields={"session_id": session_id},
        )
    assert refused.value.response["Error"]["Code"] == "ResourceNotFoundException"

    admin = {"Authorization": f"Bearer {stack.master_key}"}
    assert httpx.post(f"{stack.litellm_url}/key/block", headers=admin, json={"key": key}).status_code == 200
    assert (
        httpx.post(f"{stack.litellm_url}/key/delete", headers=admin, json={"keys": [same_user_key]}).status_code == 200
    )
    for revoked in (key, same_user_key):  # refused once the identity cache's 5 s are over
        deadline = time.monotonic() + IDENTITY_CACHE_TTL_S + 2
        while post(stack, "/chat-history", revoked, {"session_id": session_id}).status_code == 200:
            assert time.monotonic() < deadline, "a revoked key still reads history"
            time.sleep(0.1)
        response = post(stack, "/chat-history", revoked, {"session_id": session_id})
        assert response.status_code == 401, response.text
        assert response.json()["error"]["type"] == "authentication_error"
        assert post(stack, "/session-ids", revoked).status_code == 401
    assert httpx.post(f"{stack.gateway_url}/chat-history", json={"session_id": session_id}).status_code == 401


def test_bad_history_input_gets_clear_4xx(stack: LocalStack) -> None:
    client = stack.openai()
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model="fake-gpt", messages=[{"role": "user", "content": "x"}], extra_body={"session_id": "no-such-session"}
        )
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(
            model="fake-gpt", messages=[{"role": "user", "content": "x"}], extra_body={"session_id": 42}
        )
    assert bad.value.body["param"] == "session_id"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model="fake-gpt", messages=[{"role": "user", "content": "x"}], extra_body={"enable_history": "yes"}
        )
    with pytest.raises(ClientError) as unknown:
        hook_client(stack).converse(
            modelId="fake-gpt",
            messages=[{"role": "user", "content": [{"text": "x"}]}],
            additionalModelRequestFields={"session_id": str(uuid.uuid4())},
        )
    assert unknown.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert post(stack, "/chat-history", stack.master_key, {}).status_code == 400
    broken = httpx.post(
        f"{stack.gateway_url}/bedrock/chat-history",
        headers={"Authorization": f"Bearer {stack.master_key}"},
        content=b"{nope",
    )
    assert broken.status_code == 400 and broken.headers["x-amzn-ErrorType"] == "ValidationException"
    # history off (no flag, no id) leaves the request exactly as a plain one
    plain = client.chat.completions.with_raw_response.create(
        model="fake-gpt", messages=[{"role": "user", "content": "x"}], extra_body={"enable_history": False}
    )
    assert "x-session-id" not in plain.headers and "session_id" not in plain.parse().model_extra


def test_twenty_concurrent_turns_lose_nothing(stack: LocalStack) -> None:
    client = stack.openai()
    session_id = start_session(client, "start")

    def turn(n: int) -> str:
        response = client.chat.completions.with_raw_response.create(
            model="fake-gpt", messages=[{"role": "user", "content": f"turn {n}"}], extra_body={"session_id": session_id}
        )
        return response.headers["x-history-saved"]

    with ThreadPoolExecutor(20) as pool:
        assert list(pool.map(turn, range(20))) == ["true"] * 20
    messages = post(stack, "/chat-history", stack.master_key, {"session_id": session_id}).json()["messages"]
    assert len(messages) == 2 + 40
    users = [m["content"] for m in messages if m["role"] == "user"]
    assert sorted(users[1:]) == sorted(f"turn {n}" for n in range(20))
    assert [m["role"] for m in messages] == ["user", "assistant"] * 21  # each turn stays together
    listed = post(stack, "/session-ids", stack.master_key, {"limit": 100}).json()["sessions"]
    assert next(s for s in listed if s["session_id"] == session_id)["message_count"] == 42


def test_retention_ttl_and_large_messages(stack: LocalStack) -> None:
    client = stack.openai()
    big = "x" * 200_000 + "".join(chr(0x4E00 + n % 500) for n in range(150_000))  # ~650 kB of UTF-8
    session_id = start_session(client, big)
    messages = post(stack, "/chat-history", stack.master_key, {"session_id": session_id}).json()["messages"]
    assert messages[0]["content"] == big

    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=stack.dynamodb_url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",  # noqa: S106 (local endpoint)
    )
    assert (
        dynamodb.describe_time_to_live(TableName="gateway-history")["TimeToLiveDescription"]["AttributeName"]
        == "expires_at"
    )
    items = dynamodb.query(
        TableName="gateway-history",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"S#{session_id}"}},
    )["Items"]
    assert len(items) >= 3  # the session, the large message in parts, the answer
    ninety_days = 90 * 86400
    for item in items:
        assert abs(int(item["expires_at"]["N"]) - (time.time() + ninety_days)) < 120


def test_answer_survives_a_failed_store(stack: LocalStack) -> None:
    """The session is deleted while a turn streams: the caller still gets the whole answer."""
    session_id = start_session(stack.openai())
    admin = {"Authorization": f"Bearer {stack.master_key}"}
    body = {
        "model": "fake-gpt",
        "stream": True,
        "session_id": session_id,
        "messages": [{"role": "user", "content": "x"}],
    }
    slow = {**admin, "x-fake-chunk-delay-ms": "300"}  # the provider takes 2 s after the first word
    with httpx.stream(
        "POST", f"{stack.gateway_url}/v1/chat/completions", json=body, headers=slow, timeout=30
    ) as streamed:
        lines = streamed.iter_lines()
        first = next(line for line in lines if line.startswith("data: "))  # the turn is under way: now delete
        httpx.delete(f"{stack.gateway_url}/chat-history/{session_id}", headers=admin).raise_for_status()
        rest = [line for line in lines if line]
    assert rest[-2:] == [": history not saved", "data: [DONE]"]
    chunks = [json.loads(line[len("data: ") :]) for line in [first, *rest[:-2]]]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == ANSWER
    assert (
        post(stack, "/chat-history", stack.master_key, {"session_id": session_id}).status_code == 404
    )  # not resurrected
