"""The history store against moto's in-process DynamoDB, with the table template.yaml declares."""

from __future__ import annotations

import json
import os
import re
import time
from types import SimpleNamespace
from typing import Any

import pytest
from gateway_core.errors import ServiceUnavailableError
from gateway_core.history import store as store_module
from gateway_core.history.formats import openai_to_converse_history
from gateway_core.history.records import (
    SESSION_SK,
    MessageItem,
    SessionItem,
    decode_message,
    message_items,
    new_turn_key,
)
from gateway_core.history.store import SessionGone, SessionStore
from pynamodb.exceptions import QueryError

from tests.unit.conftest import HISTORY_TABLE, dynamodb_requests, empty, projected


@pytest.fixture
def store(history_table: Any) -> SessionStore:
    empty(history_table)
    return SessionStore(HISTORY_TABLE, retention_days=1)


def test_turns_append_in_order_and_system_is_replaced(store: SessionStore) -> None:
    store.append(
        "s1",
        "user:a",
        [{"role": "user", "content": "1"}, {"role": "assistant", "content": "one"}],
        create=True,
        model="m",
        system=[{"role": "system", "content": "old"}],
    )
    store.append(
        "s1",
        "user:a",
        [{"role": "user", "content": "2"}, {"role": "assistant", "content": "two"}],
        create=False,
        model="m",
        system=[{"role": "system", "content": "new"}],
    )
    session = store.get("s1")
    assert (
        session is not None and session.message_count == 4 and session.system == [{"role": "system", "content": "new"}]
    )
    assert [m["content"] for m in store.messages("s1")] == ["1", "one", "2", "two"]


def test_a_new_session_cannot_overwrite_and_a_gone_one_cannot_grow(store: SessionStore) -> None:
    store.append("s1", "user:a", [{"role": "user", "content": "1"}], create=True, model=None, system=None)
    with pytest.raises(SessionGone):
        store.append("s1", "user:b", [{"role": "user", "content": "steal"}], create=True, model=None, system=None)
    with pytest.raises(SessionGone):
        store.append("nope", "user:a", [{"role": "user", "content": "x"}], create=False, model=None, system=None)
    assert store.get("s1").owner == "user:a"  # type: ignore[union-attr]
    assert store.delete("s1") == 1 and store.get("s1") is None
    with pytest.raises(SessionGone):
        store.append("s1", "user:a", [{"role": "user", "content": "late"}], create=False, model=None, system=None)


def test_large_and_huge_messages(store: SessionStore) -> None:
    large = {"role": "user", "content": "".join(chr(0x4E00 + n % 2000) for n in range(400_000))}  # 1.2 MB, compresses
    store.append("s1", "k", [large], create=True, model=None, system=None)
    assert store.messages("s1") == [large]
    assert len(list(MessageItem.query("S#s1"))) > 1  # stored in parts

    huge = {"role": "user", "content": os.urandom(3_500_000).hex()}  # 7 MB that compresses to 3.5 MB
    store.append("s2", "k", [huge, {"role": "assistant", "content": "ok"}], create=True, model=None, system=None)
    kept = store.messages("s2")
    assert "too large to keep" in kept[0]["content"] and kept[1]["content"] == "ok"


def test_expired_messages_are_hidden_without_leaving_an_orphan_start(store: SessionStore) -> None:
    store.append(
        "s1",
        "k",
        [{"role": "user", "content": "q"}, {"role": "assistant", "content": None, "tool_calls": [{"id": "t"}]}],
        create=True,
        model=None,
        system=None,
    )
    store.append(
        "s1",
        "k",
        [{"role": "tool", "tool_call_id": "t", "content": "r"}, {"role": "assistant", "content": "a"}],
        create=False,
        model=None,
        system=None,
    )
    store.append("s1", "k", [{"role": "user", "content": "q2"}], create=False, model=None, system=None)
    items = sorted(MessageItem.query("S#s1"), key=lambda i: i.sk)
    for item in items[:2]:  # the first turn aged out (TTL deletion is lazy)
        item.update(actions=[MessageItem.expires_at.set(int(time.time()) - 1)])
    assert [m["content"] for m in store.messages("s1")] == ["q2"]


def test_an_item_is_expired_from_its_expiry_second_on(store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    call = {"role": "assistant", "content": None, "tool_calls": [{"id": "t"}]}
    store.append("s1", "k", [{"role": "user", "content": "q"}, call], create=True, model=None, system=None)
    result = [{"role": "tool", "tool_call_id": "t", "content": "r"}, {"role": "assistant", "content": "a"}]
    store.append("s1", "k", result, create=False, model=None, system=None)
    store.append("s1", "k", [{"role": "user", "content": "q2"}], create=False, model=None, system=None)
    now = int(time.time())
    for item in sorted(MessageItem.query("S#s1"), key=lambda i: i.sk)[:2]:  # the first turn (a small turn: 2 items)
        item.update(actions=[MessageItem.expires_at.set(now)])
    monkeypatch.setattr(store_module, "time", SimpleNamespace(time=lambda: float(now)))
    assert [m["content"] for m in store.messages("s1")] == ["q2"]  # the question is gone, so are its answers
    monkeypatch.setattr(store_module, "time", SimpleNamespace(time=lambda: now - 0.5))
    assert [m["content"] for m in store.messages("s1")] == ["q", None, "r", "a", "q2"]


def test_a_session_is_gone_from_its_expiry_second_on(store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.append("s1", "user:a", [{"role": "user", "content": "q"}], create=True, model=None, system=None)
    now = int(time.time())
    SessionItem("S#s1", SESSION_SK).update(actions=[SessionItem.expires_at.set(now)])
    monkeypatch.setattr(store_module, "time", SimpleNamespace(time=lambda: float(now)))
    assert (store.get("s1"), store.list("user:a", 10, None)[0]) == (None, [])
    monkeypatch.setattr(store_module, "time", SimpleNamespace(time=lambda: now - 0.5))
    assert [s.session_id for s in store.list("user:a", 10, None)[0]] == ["s1"] and store.get("s1") is not None


def test_a_session_may_start_with_an_answer_while_that_answer_lives(store: SessionStore) -> None:
    opening = [{"role": "assistant", "content": "Hello, how can I help?"}, {"role": "user", "content": "q"}]
    store.append("s1", "k", opening, create=True, model=None, system=None)
    assert store.messages("s1") == opening


def test_a_session_without_messages_has_no_expired_start(store: SessionStore) -> None:
    # page() asks only after reading a message; the session may be deleted in between.
    assert store._has_expired_start("gone") is False


def test_sessions_list_for_their_owner_only_newest_first(store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    moments = iter(range(1_800_000_000_000, 1_800_000_100_000, 1000))  # one second apart, not a sleep
    monkeypatch.setattr(store_module, "_now_ms", lambda: next(moments))
    for n in range(3):
        store.append(f"a{n}", "user:a", [{"role": "user", "content": "x"}], create=True, model=None, system=None)
    store.append("b0", "user:b", [{"role": "user", "content": "x"}], create=True, model=None, system=None)
    first, start = store.list("user:a", 2, None)
    rest, end = store.list("user:a", 2, start)
    assert [s.session_id for s in first + rest] == ["a2", "a1", "a0"] and end is None
    assert store.list("user:b", 2, None)[0][0].session_id == "b0"


def test_converse_rendering_merges_roles_and_keeps_media() -> None:
    history = [
        {"role": "system", "content": "sys"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "t1", "function": {"name": "f", "arguments": '{"a": 1}'}},
                {"id": "t2", "function": {"name": "g", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "t1", "content": "r1"},
        {"role": "tool", "tool_call_id": "t2", "content": "r2"},
        {
            "role": "user",
            "content": [
                {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"}}
            ],
        },
    ]
    converse = openai_to_converse_history(history)
    assert converse["system"] == [{"text": "sys"}]
    assert converse["messages"][0]["content"][1] == {"image": {"format": "png", "source": {"bytes": "AAAA"}}}
    assert [b["toolUse"]["input"] for b in converse["messages"][1]["content"]] == [{"a": 1}, {}]
    assert [list(b) for b in converse["messages"][2]["content"]] == [["toolResult"], ["toolResult"], ["document"]]
    assert converse["messages"][2]["content"][2]["document"] == {
        "format": "pdf",
        "name": "a",
        "source": {"bytes": "JVBE"},
    }


def test_converse_rendering_of_unusual_content_parts() -> None:
    file_without_data = {"type": "file", "file": {"filename": "a.pdf"}}
    parts = [
        "plain",  # a bare string in a content list
        {"type": "text"},  # a text part without its text
        7,  # neither: kept as its JSON
        {"type": "image_url", "image_url": {"url": "data:image/png,QUJD"}},  # not base64: not an image
        {"type": "image_url", "image_url": {"url": "data:image/png;name=a;x=y;base64,QU;base64,JD"}},  # 1st marker
        file_without_data,
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE"}},  # no filename
    ]
    converse = openai_to_converse_history([{"role": "user", "content": parts}])
    assert converse["messages"][0]["content"] == [
        {"text": "plain"},
        {"text": ""},
        {"text": "7"},
        {"text": "[image: data:image/png,QUJD]"},
        {"image": {"format": "png", "source": {"bytes": "QU;base64,JD"}}},
        {"text": json.dumps(file_without_data)},
        {"document": {"format": "pdf", "name": "document", "source": {"bytes": "JVBE"}}},
    ]


def test_only_thinking_blocks_become_reasoning_in_the_converse_rendering() -> None:
    thinking = [
        "not a block",
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "thinking", "thinking": "hm", "signature": "sig"},
        {"type": "thinking", "thinking": "unsigned"},
    ]
    answer = {"role": "assistant", "content": "done", "thinking_blocks": thinking}
    converse = openai_to_converse_history([{"role": "user", "content": "q"}, answer])
    assert converse["messages"][1]["content"] == [
        {"reasoningContent": {"reasoningText": {"text": "hm", "signature": "sig"}}},
        {"reasoningContent": {"reasoningText": {"text": "unsigned"}}},
        {"text": "done"},
    ]


def test_developer_text_is_system_text_and_empty_content_no_block() -> None:
    call = {"id": "t1", "function": {"name": "f", "arguments": "{}"}}
    history = [
        {"role": "developer", "content": "be brief"},
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
    ]
    converse = openai_to_converse_history(history)
    assert converse["system"] == [{"text": "be brief"}]
    assert converse["messages"][1]["content"] == [{"toolUse": {"toolUseId": "t1", "name": "f", "input": {}}}]


def test_every_system_message_joins_the_system_text_and_an_empty_turn_is_skipped() -> None:
    history = [
        {"role": "system", "content": "a"},
        {"role": "system", "content": "b"},
        {"role": "user", "content": ""},
        {"role": "user", "content": "q"},
    ]
    converse = openai_to_converse_history(history)
    assert converse == {
        "system": [{"text": "a"}, {"text": "b"}],
        "messages": [{"role": "user", "content": [{"text": "q"}]}],
    }


def test_a_message_is_stored_as_utf_8_json_not_escaped(store: SessionStore, history_table: Any) -> None:
    """DynamoDB counts an item's bytes (400 KB at most): "é" is 2 bytes as UTF-8, 6 as \\u00e9."""
    store.append("s", "user:ann", [{"role": "user", "content": "café"}], create=True, model="m", system=None)
    bodies = [item["body"] for item in history_table.scan()["Items"] if item["sk"].startswith("M#") and "body" in item]
    assert bodies == ['{"role":"user","content":"café"}']


def test_the_store_uses_the_default_region_when_lambda_sets_no_aws_region(
    history_table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    try:
        assert SessionStore(HISTORY_TABLE, retention_days=1).region == "eu-west-1"
    finally:  # the models are bound to the last store's region: back to the table's (moto's us-east-1)
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        SessionStore(HISTORY_TABLE, retention_days=1)


def test_the_expired_start_check_reads_one_item_eventually(store: SessionStore) -> None:
    """Whether a session's first item expired: one item (Limit 1, not a 1 MB page), and an eventual
    read (half the cost: an expired item was written a retention period ago). moto reads
    consistently and charges nothing, so the request is what shows it."""
    opening = [{"role": "assistant", "content": "Hello"}, {"role": "user", "content": "q"}]
    store.append("s1", "k", opening, create=True, model=None, system=None)
    sent = dynamodb_requests(lambda: store._has_expired_start("s1"))
    assert [(op, p.get("Limit"), p.get("ConsistentRead")) for op, p in sent] == [("Query", 1, None)]


def test_a_page_inside_a_staged_turn_reads_its_commit_record_consistently_by_key(store: SessionStore) -> None:
    """A commit record written a moment ago must be seen (else the turn's rest is hidden), and only
    its existence matters."""
    store.append("s1", "k", [{"role": "user", "content": "q"}], create=True, model=None, system=None)
    turn = [{"role": "tool", "tool_call_id": f"t{n}", "content": f"r{n}"} for n in range(105)]  # staged
    store.append("s1", "k", turn, create=False, model=None, system=None)
    first = store.page("s1", limit=20)
    sent = dynamodb_requests(lambda: store.page("s1", after=first.after, limit=20))
    [get] = [p for op, p in sent if op == "GetItem"]
    assert (get["ConsistentRead"], projected(get)) == (True, ["pk"])


def test_a_turn_key_is_its_microsecond_then_64_random_bits() -> None:
    assert re.fullmatch(r"M#\d{16}#[0-9a-f]{16}", new_turn_key())


def test_a_session_is_stamped_in_milliseconds(store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = SimpleNamespace(time=lambda: 1_700_000_000.25, strftime=time.strftime, gmtime=time.gmtime)
    monkeypatch.setattr(store_module, "time", clock)
    store.append("s1", "user:a", [{"role": "user", "content": "q"}], create=True, model=None, system=None)
    [session], _ = store.list("user:a", 10, None)
    assert session.summary()["created_at"] == session.summary()["updated_at"] == "2023-11-14T22:13:20.250Z"


def test_a_page_holds_messages_up_to_its_budget_exactly(store: SessionStore) -> None:
    hi = {"role": "user", "content": "hi"}  # 40 in the OpenAI shape (test_history_cursor.py)
    store.append("s1", "k", [hi, hi, hi], create=True, model=None, system=None)
    assert len(store.page("s1", limit=None, budget=80).messages) == 2
    assert len(store.page("s1", limit=None, budget=79).messages) == 1
    assert len(store.page("s1", limit=None, budget=1).messages) == 1  # at least one, whatever it costs


def test_a_page_the_table_refuses_is_unavailable(store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.append("s1", "k", [{"role": "user", "content": "q"}], create=True, model=None, system=None)

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise QueryError("throughput exceeded")

    monkeypatch.setattr(MessageItem, "query", refused)
    with pytest.raises(ServiceUnavailableError) as failed:
        store.page("s1", limit=10)
    assert failed.value.message == "Chat history is unavailable"


def test_a_message_costing_exactly_the_cap_is_kept_whole_and_one_above_is_not() -> None:
    at_cap = {"role": "user", "content": "a" * 3_999_918}  # costs 4,000,000 = MESSAGE_CAP served as Converse
    assert decode_message(message_items("S#s", "M#1#t#000", at_cap, 0)) == at_cap
    above = {"role": "assistant", "content": "a" * 3_999_914}  # its JSON: 33 characters + the content
    assert decode_message(message_items("S#s", "M#1#t#000", above, 0)) == {
        "role": "assistant",
        "content": "[assistant content of 3999947 bytes was too large to keep in history]",
    }


def test_a_placeholder_for_a_message_without_a_role_is_a_users() -> None:
    nameless = {"content": "a" * 3_999_919}
    assert decode_message(message_items("S#s", "M#1#t#000", nameless, 0)) == {
        "role": "user",
        "content": "[message content of 3999933 bytes was too large to keep in history]",
    }


@pytest.mark.parametrize(
    ("environment", "region"),
    [
        ({"AWS_REGION": "eu-west-3", "AWS_DEFAULT_REGION": "us-west-2"}, "eu-west-3"),
        ({"AWS_DEFAULT_REGION": "us-west-2"}, "us-west-2"),
        ({}, "us-east-1"),
    ],
)
def test_the_store_talks_to_the_functions_region(
    history_table: Any, monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], region: str
) -> None:
    """Lambda sets AWS_REGION; every connection (each model's, the transactions') uses it."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    store = SessionStore("t", retention_days=1)
    connections = [m._get_connection().connection for m in (SessionItem, MessageItem)] + [store._connection]
    assert [c.region for c in connections] == [region] * 3
    assert (SessionItem.Meta.table_name, MessageItem.Meta.table_name) == ("t", "t")
    SessionStore(HISTORY_TABLE, retention_days=1)  # the other tests' table again


def test_a_session_lives_its_retention_days_to_the_second(store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        store_module, "time", SimpleNamespace(time=lambda: 1_700_000_000.0, strftime=time.strftime, gmtime=time.gmtime)
    )
    store.append("s1", "user:a", [{"role": "user", "content": "q"}], create=True, model=None, system=None)
    assert store.get("s1").expires_at == 1_700_000_000 + 86_400  # type: ignore[union-attr]  # retention_days=1
