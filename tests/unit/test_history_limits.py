"""History at its limits, on moto: turns beyond one transaction, pages under Lambda's 6 MB,
deletes that leave nothing, and next_token that only its owner can use.

moto does not enforce DynamoDB's transaction limits (100 items, 4 MB), so every transaction
the store sends is recorded and checked here; tests/integration/test_history_dynamodb_local.py
runs the same turns, and 50 concurrent ones, on DynamoDB Local, which does.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from gateway_core.errors import InvalidRequestError, ServiceUnavailableError
from gateway_core.history import store as store_module
from gateway_core.history.cursor import open_token, seal_token
from gateway_core.history.records import MessageItem, SessionItem
from gateway_core.history.sizes import LAMBDA_RESPONSE_LIMIT, converse_cost, message_cost, openai_cost
from gateway_core.history.store import SessionStore
from pynamodb.connection import Connection
from pynamodb.exceptions import CancellationReason, PynamoDBException, TransactWriteError, VerboseClientError

from tests.unit.conftest import HISTORY_TABLE, dynamodb_requests, empty, projected

TX_LIMIT_ITEMS, TX_LIMIT_BYTES = 100, 4 * 1024 * 1024


@pytest.fixture
def transactions(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """(items, bytes of their JSON) of every TransactWriteItems the store sends."""
    sent: list[tuple[int, int]] = []
    original = Connection.transact_write_items

    def record(self: Connection, **kwargs: Any) -> Any:
        kinds = ("condition_check_items", "delete_items", "put_items", "update_items")
        operations = [op for kind in kinds for op in kwargs.get(kind) or []]
        sent.append((len(operations), len(json.dumps(operations, default=str))))
        return original(self, **kwargs)

    monkeypatch.setattr(Connection, "transact_write_items", record)
    return sent


@pytest.fixture
def store(history_table: Any, transactions: list[tuple[int, int]]) -> Iterator[SessionStore]:
    empty(history_table)
    yield SessionStore(HISTORY_TABLE, retention_days=1)


def _items(session: str) -> list[MessageItem]:
    return list(MessageItem.query(f"S#{session}", consistent_read=True))


def _incompressible(n_bytes: int) -> str:
    return base64.b64encode(os.urandom(n_bytes * 3 // 4)).decode()


def _start(store: SessionStore, session: str = "s1") -> None:
    store.append(session, "user:a", [{"role": "user", "content": "first"}], create=True, model=None, system=None)


def test_a_turn_of_more_than_a_hundred_items_is_stored_whole_in_small_transactions(
    store: SessionStore, transactions: list[tuple[int, int]]
) -> None:
    _start(store)
    turn = [{"role": "tool", "tool_call_id": f"t{n}", "content": f"result {n}"} for n in range(150)]
    store.append("s1", "user:a", turn, create=False, model=None, system=None)
    assert store.messages("s1") == [{"role": "user", "content": "first"}, *turn]
    assert store.get("s1").message_count == 151  # type: ignore[union-attr]
    assert transactions[-1][0] == 2  # the commit: session update + commit record
    assert all(items <= TX_LIMIT_ITEMS and size <= TX_LIMIT_BYTES for items, size in transactions)
    staged = [i for i in _items("s1") if i.staged]
    records = [i for i in _items("s1") if i.turn_items is not None]
    assert len(staged) == 150 and [r.turn_items for r in records] == [150]


def test_a_turn_of_several_megabytes_is_stored_whole(store: SessionStore, transactions: list[tuple[int, int]]) -> None:
    _start(store)
    big = [{"role": "user", "content": _incompressible(1_600_000)} for _ in range(3)]  # ~4.8 MB compressed
    store.append("s1", "user:a", [*big, {"role": "assistant", "content": "ok"}], create=False, model=None, system=None)
    assert store.messages("s1")[1:] == [*big, {"role": "assistant", "content": "ok"}]
    assert all(items <= TX_LIMIT_ITEMS and size <= TX_LIMIT_BYTES for items, size in transactions)


@pytest.mark.parametrize(("messages", "transaction"), [(99, 100), (100, 2)])
def test_a_turn_goes_in_one_transaction_while_it_and_the_session_make_at_most_a_hundred_items(
    store: SessionStore, transactions: list[tuple[int, int]], messages: int, transaction: int
) -> None:
    """DynamoDB takes 100 items a transaction: 99 messages and the session's update fit; 100 are
    staged, and the transaction carries the session and the turn's commit record."""
    _start(store)
    transactions.clear()
    turn = [{"role": "tool", "tool_call_id": f"t{n}", "content": "r"} for n in range(messages)]
    store.append("s1", "user:a", turn, create=False, model=None, system=None)
    assert [items for items, _ in transactions] == [transaction]
    assert store.messages("s1")[1:] == turn


def test_staged_items_without_their_commit_record_are_invisible_and_deleted_with_the_session(
    store: SessionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _start(store)

    def killed(*args: Any, **kwargs: Any) -> None:
        raise SystemExit("killed")

    turn = [{"role": "tool", "tool_call_id": f"t{n}", "content": "r"} for n in range(120)]
    with monkeypatch.context() as patched:
        # The process dies between staging and the commit, and nothing could clean up after it.
        patched.setattr(SessionStore, "_discard", lambda self, items: None)
        patched.setattr(SessionStore, "_commit", killed)
        with pytest.raises(SystemExit):
            store.append("s1", "user:a", turn, create=False, model=None, system=None)
    assert len(_items("s1")) == 1 + 1 + 120  # session, "first", the orphans
    assert store.messages("s1") == [{"role": "user", "content": "first"}]
    assert store.get("s1").message_count == 1  # type: ignore[union-attr]
    store.append("s1", "user:a", [{"role": "user", "content": "next"}], create=False, model=None, system=None)
    assert [m["content"] for m in store.messages("s1")] == ["first", "next"]
    assert store.delete("s1") == 2 + 120
    assert _items("s1") == []


def test_a_failed_commit_discards_what_it_staged(store: SessionStore) -> None:
    _start(store)
    store.delete("s1")  # the session goes while a long turn was being written
    turn = [{"role": "tool", "tool_call_id": f"t{n}", "content": "r"} for n in range(120)]
    with pytest.raises(store_module.SessionGone):
        store.append("s1", "user:a", turn, create=False, model=None, system=None)
    assert _items("s1") == []


def test_pages_cut_inside_a_staged_turn_join_up_exactly(store: SessionStore) -> None:
    _start(store)
    turn = [{"role": "tool", "tool_call_id": f"t{n}", "content": f"r{n}"} for n in range(105)]
    store.append("s1", "user:a", turn, create=False, model=None, system=None)
    store.append("s1", "user:a", [{"role": "user", "content": "last"}], create=False, model=None, system=None)
    seen, after, pages = [], None, 0
    for _ in range(20):  # bounded: paging that never ends fails here instead of hanging
        page = store.page("s1", after=after, limit=20)
        seen += page.messages
        pages += 1
        if page.after is None:
            break
        after = page.after
    else:
        pytest.fail("no last page after 20")
    assert seen == [{"role": "user", "content": "first"}, *turn, {"role": "user", "content": "last"}]
    assert pages == 6  # 107 messages, 20 a page


def test_pages_stay_under_lambdas_six_megabytes(store: SessionStore) -> None:
    quoted = '"' * 450_000  # 0.9 MB of JSON, 1.8 MB embedded in the Lambda answer (each quote escaped twice)
    messages = [{"role": "user", "content": quoted + str(n)} for n in range(9)]
    store.append("s1", "user:a", messages, create=True, model=None, system=None)
    seen, after, sizes = [], None, []
    for _ in range(20):  # bounded, as above
        page = store.page("s1", after=after, limit=100)
        answer = {"session_id": "s1", "messages": page.messages, "next_token": "x" * 200}
        body = json.dumps(answer, ensure_ascii=False, separators=(",", ":"))  # as Starlette renders it
        envelope = {"statusCode": 200, "headers": {}, "body": body, "isBase64Encoded": False}
        sizes.append(len(json.dumps(envelope, ensure_ascii=False).encode()))  # as the Lambda runtime sends it
        seen += page.messages
        if page.after is None:
            break
        after = page.after
    else:
        pytest.fail("no last page after 20")
    assert seen == messages
    assert sizes and max(sizes) < LAMBDA_RESPONSE_LIMIT
    assert len(sizes) == 5  # 9 messages of 1.8 MB embedded: 2 a page under the 5 MB page budget
    assert store.messages("s1") == messages  # a turn's history is read whole, past any page budget


def test_a_message_that_no_page_could_carry_is_kept_as_a_placeholder(store: SessionStore) -> None:
    quoted = '"' * 2_100_000  # 4.2 MB once embedded: over the per-message cap
    store.append("s1", "user:a", [{"role": "user", "content": quoted}], create=True, model=None, system=None)
    [kept] = store.messages("s1")
    assert kept == {
        "role": "user",
        "content": "[user content of 4200028 bytes was too large to keep in history]",
    }


def test_delete_reads_consistently_and_removes_every_item_across_pages(store: SessionStore) -> None:
    # ~3.6 MB of items: DynamoDB answers a query in pages of 1 MB, so the delete must follow them.
    for n in range(3):
        turn = [{"role": "user", "content": _incompressible(1_200_000)}, {"role": "assistant", "content": "a"}]
        store.append("s1", "user:a", turn, create=n == 0, model=None, system=None)
    assert len(_items("s1")) > 12
    assert store.delete("s1") == 6
    assert _items("s1") == []


def test_delete_asks_for_a_consistent_read_of_the_keys_only(store: SessionStore) -> None:
    """An eventual read could miss a turn written a moment before the delete and leave its items
    behind (moto always reads consistently: the Query botocore sends shows it), and the delete needs
    nothing but the keys."""
    _start(store)
    sent = dynamodb_requests(lambda: store.delete("s1"))
    [query] = [params for operation, params in sent if operation == "Query"]
    assert (query["ConsistentRead"], projected(query)) == (True, ["pk", "sk"])


def test_a_turn_stored_while_its_session_is_being_deleted_is_told_it_was_not_saved(
    store: SessionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session item goes first: a turn that lands while the delete reads the session's items
    fails (SessionGone) instead of reporting a turn stored in a session that is going away."""
    _start(store)
    original, raced = MessageItem.query, []

    def query_after_a_turn(*args: Any, **kwargs: Any) -> Any:
        try:
            store.append("s1", "user:a", [{"role": "user", "content": "late"}], create=False, model=None, system=None)
        except store_module.SessionGone:
            raced.append("refused")
        return original(*args, **kwargs)

    monkeypatch.setattr(MessageItem, "query", query_after_a_turn)
    assert store.delete("s1") == 1
    assert raced == ["refused"]
    monkeypatch.undo()
    assert _items("s1") == [] and store.get("s1") is None


@pytest.mark.parametrize("refusing", ["session", "messages"])
def test_a_delete_the_table_refuses_is_unavailable(
    store: SessionStore, monkeypatch: pytest.MonkeyPatch, refusing: str
) -> None:
    _start(store)

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise PynamoDBException("throughput exceeded")

    if refusing == "session":
        monkeypatch.setattr(SessionItem, "delete", refused)
    else:
        monkeypatch.setattr(MessageItem, "batch_write", refused)
    with pytest.raises(ServiceUnavailableError) as failed:
        store.delete("s1")
    assert failed.value.message == "Chat history is unavailable"


# -- next_token ---------------------------------------------------------------------------------

KEY = b"k" * 32


def test_a_token_opens_only_for_what_it_was_sealed_for() -> None:
    token = seal_token(KEY, "M#0001#ab#003#00", "user:alice", "messages", "s1")
    assert open_token(KEY, token, "user:alice", "messages", "s1") == "M#0001#ab#003#00"
    position, mac = token.split(".")
    forged_position = base64.urlsafe_b64encode(b'"M#9999"').decode().rstrip("=")
    refused = [
        (KEY, token, "user:mallory", "messages", "s1"),  # another caller
        (KEY, token, "user:alice", "messages", "s2"),  # another session
        (KEY, token, "user:alice", "sessions"),  # another listing
        (b"x" * 32, token, "user:alice", "messages", "s1"),  # another key (a rotated master key)
        (KEY, f"{forged_position}.{mac}", "user:alice", "messages", "s1"),
        (KEY, f"{position}.{mac[:-2]}AA", "user:alice", "messages", "s1"),
        (KEY, "bm9wZQ==", "user:alice", "messages", "s1"),
        (KEY, "a.b.c", "user:alice", "messages", "s1"),
        (KEY, "\udcff.\udcff", "user:alice", "messages", "s1"),
        (KEY, 42, "user:alice", "messages", "s1"),
        (KEY, "x" * 5000 + ".y", "user:alice", "messages", "s1"),
    ]
    for key, bad, *binding in refused:
        with pytest.raises(InvalidRequestError, match="next_token is not valid") as caught:
            open_token(key, bad, *binding)
        assert caught.value.param == "next_token"


# -- turns that collide ---------------------------------------------------------------------------


def _conflict() -> TransactWriteError:
    cause = VerboseClientError(
        {"Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"}},
        "TransactWriteItems",
        cancellation_reasons=[CancellationReason(code="TransactionConflict"), None],
    )
    return TransactWriteError("Failed to write transaction items", cause=cause)


def test_a_turn_cancelled_by_a_concurrent_one_is_sent_again_until_it_lands(
    store: SessionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DynamoDB cancels a transaction that collides with another on the session item; DynamoDB
    Local serializes them instead, so the collisions are injected here."""
    _start(store)
    original, tokens = Connection.transact_write_items, []

    def collides_three_times(self: Connection, **kwargs: Any) -> Any:
        tokens.append(kwargs["client_request_token"])
        if len(tokens) <= 3:
            raise _conflict()
        return original(self, **kwargs)

    monkeypatch.setattr(Connection, "transact_write_items", collides_three_times)
    monkeypatch.setattr(store_module.random, "uniform", lambda low, high: 0.0)  # no backoff wait in tests
    store.append("s1", "user:a", [{"role": "user", "content": "next"}], create=False, model=None, system=None)
    assert [m["content"] for m in store.messages("s1")] == ["first", "next"]
    assert store.get("s1").message_count == 2  # type: ignore[union-attr]
    assert len(tokens) == 4 and len(set(tokens)) == 4 and store.conflicts_retried == 3


def test_a_turn_that_keeps_colliding_fails_whole(store: SessionStore, monkeypatch: pytest.MonkeyPatch) -> None:
    _start(store)

    def always_collides(self: Connection, **kwargs: Any) -> Any:
        raise _conflict()

    monkeypatch.setattr(Connection, "transact_write_items", always_collides)
    monkeypatch.setattr(store_module.random, "uniform", lambda low, high: 0.0)
    turn = [{"role": "tool", "tool_call_id": f"t{n}", "content": "r"} for n in range(120)]  # staged, then discarded
    waits: list[tuple[float, float]] = []
    monkeypatch.setattr(store_module.random, "uniform", lambda low, high: waits.append((low, high)) or 0.0)
    with pytest.raises(ServiceUnavailableError) as failed:
        store.append("s1", "user:a", turn, create=False, model=None, system=None)
    assert failed.value.message == "Chat history could not be stored"
    assert store.conflicts_retried == store_module.CONFLICT_RETRIES
    # Full jitter, doubling from 20 ms, at most a second.
    assert waits == [(0, 0.02), (0, 0.04), (0, 0.08), (0, 0.16), (0, 0.32), (0, 0.64)] + [(0, 1.0)] * 4
    assert [i.sk for i in _items("s1") if i.sk.startswith("M#")] == [_items("s1")[0].sk]


def test_a_transaction_refused_for_another_reason_is_not_sent_again(
    store: SessionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _start(store)
    calls: list[str] = []

    def invalid(self: Connection, **kwargs: Any) -> Any:
        calls.append(kwargs["client_request_token"])
        cause = VerboseClientError(
            {"Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"}},
            "TransactWriteItems",
            cancellation_reasons=[CancellationReason(code="ValidationError"), None],
        )
        raise TransactWriteError("Failed to write transaction items", cause=cause)

    monkeypatch.setattr(Connection, "transact_write_items", invalid)
    with pytest.raises(ServiceUnavailableError) as failed:
        store.append("s1", "user:a", [{"role": "user", "content": "next"}], create=False, model=None, system=None)
    assert (failed.value.message, len(calls), store.conflicts_retried) == ("Chat history could not be stored", 1, 0)


def test_a_transaction_that_fails_on_the_way_is_unavailable(
    store: SessionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _start(store)

    def unreachable(self: Connection, **kwargs: Any) -> Any:
        raise PynamoDBException("connection reset")

    monkeypatch.setattr(Connection, "transact_write_items", unreachable)
    with pytest.raises(ServiceUnavailableError) as failed:
        store.append("s1", "user:a", [{"role": "user", "content": "next"}], create=False, model=None, system=None)
    assert failed.value.message == "Chat history could not be stored"


@pytest.mark.parametrize("code", ["ThrottlingException", "TransactionInProgressException"])
def test_a_throttled_turn_is_sent_again(store: SessionStore, monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    """DynamoDB throttles a transaction (or finds its token still in progress) without any
    cancellation reason: the turn is sent again, not refused."""
    _start(store)
    original, calls = Connection.transact_write_items, []

    def throttled_once(self: Connection, **kwargs: Any) -> Any:
        calls.append(kwargs["client_request_token"])
        if len(calls) == 1:
            cause = VerboseClientError({"Error": {"Code": code, "Message": "slow down"}}, "TransactWriteItems")
            raise TransactWriteError("Failed to write transaction items", cause=cause)
        return original(self, **kwargs)

    monkeypatch.setattr(Connection, "transact_write_items", throttled_once)
    monkeypatch.setattr(store_module.random, "uniform", lambda low, high: 0.0)
    store.append("s1", "user:a", [{"role": "user", "content": "next"}], create=False, model=None, system=None)
    assert [m["content"] for m in store.messages("s1")] == ["first", "next"]
    assert len(calls) == 2 and store.conflicts_retried == 1


def test_an_items_size_counts_its_keys_and_payload() -> None:
    item = MessageItem("S#abc", "M#0001#00", body='{"a":1}', expires_at=1)
    assert item.size() == 7 + 5 + 9 + 64
    blob = MessageItem("S#abcdef", "M#1", blob=b"12345678901", expires_at=1)
    assert blob.size() == 11 + 8 + 3 + 64


def test_staged_items_that_cannot_be_discarded_are_left_for_ttl_and_said(
    store: SessionStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise PynamoDBException("table is being deleted")

    monkeypatch.setattr(MessageItem, "batch_write", refused)
    items = [MessageItem("S#s1", f"M#1#{n:02d}", body="{}", expires_at=1) for n in range(3)]
    with caplog.at_level("WARNING"):
        store._discard(items)
    assert [r.getMessage() for r in caplog.records] == ["staged history items left for TTL (3): table is being deleted"]


def test_a_message_costs_its_larger_shape_or_twice_its_own_when_converse_cannot_render_it() -> None:
    hello = {"role": "user", "content": "héllo"}
    # '{"role":"user","content":"héllo"}' is 33 characters, 34 bytes; as a JSON string 10 more
    # (its 8 quotes escaped, 2 around it); Converse's {"system":[],"messages":[...]} is 88
    assert (openai_cost(hello), converse_cost(hello), message_cost(hello)) == (44, 88, 88)
    odd = {"role": "assistant", "content": None, "tool_calls": "not a list"}
    assert (openai_cost(odd), message_cost(odd)) == (73, 146)  # 61 characters, 10 quotes escaped, 2 around


def test_a_page_that_starts_inside_an_uncommitted_turn_still_hides_it(
    store: SessionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _start(store)
    turn = [{"role": "tool", "tool_call_id": f"t{n}", "content": "r"} for n in range(120)]
    with monkeypatch.context() as patched:  # staged, then the process died before the commit
        patched.setattr(SessionStore, "_discard", lambda self, items: None)
        patched.setattr(SessionStore, "_commit", lambda *args, **kwargs: (_ for _ in ()).throw(SystemExit("killed")))
        with pytest.raises(SystemExit):
            store.append("s1", "user:a", turn, create=False, model=None, system=None)
    orphans = sorted(item.sk for item in _items("s1") if item.staged)
    assert len(orphans) == 120
    assert store.page("s1", after=orphans[0], limit=100).messages == []  # a token cut inside it sees none of it either


def test_a_turn_that_cannot_be_staged_is_discarded_and_said(
    store: SessionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _start(store)
    discarded: list[int] = []

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise PynamoDBException("throughput exceeded")

    monkeypatch.setattr(MessageItem, "batch_write", refused)
    monkeypatch.setattr(SessionStore, "_discard", lambda self, items: discarded.append(len(items)))
    turn = [{"role": "tool", "tool_call_id": f"t{n}", "content": "r"} for n in range(120)]
    with pytest.raises(ServiceUnavailableError) as failed:
        store.append("s1", "user:a", turn, create=False, model=None, system=None)
    assert (failed.value.message, discarded) == ("Chat history could not be stored", [120])
