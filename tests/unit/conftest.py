"""Shared unit-test fixtures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import botocore.loaders
import botocore.session
import pytest
from chat_history.app import create_app as history_app
from gateway_core import identity, prompts, secrets
from gateway_core.history.records import MessageItem, SessionItem
from gateway_core.history.store import SessionStore, get_store
from gateway_core.settings import get_settings
from moto import mock_aws
from starlette.testclient import TestClient

from local.dynamodb import create_tables
from tests.unit.fake_litellm import MASTER_KEY, FakeLiteLLM


@pytest.fixture(scope="session", autouse=True)
def botocore_data_read_once() -> Iterator[None]:
    """Every botocore session of the run shares one data loader per search path.

    A botocore session parses botocore's JSON data (service model, endpoint rules, partitions) on
    its first client, and each new pynamodb connection builds a new session: a SessionStore per
    test (three connections) cost ~0.1 s of CPU each, about a third of the unit suite. The loader
    only reads botocore's own files and caches what it parsed, so sharing it changes no client's
    behaviour; sessions and clients are still created per store, as deployed.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session, "create_loader", cache(botocore.loaders.create_loader))
        yield


@pytest.fixture
def moto_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """AWS in process (moto), with placeholder credentials and no endpoint overrides."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SECRETS_MANAGER"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        yield


class FakeClock:
    """A monotonic clock the test moves by hand (no sleeps)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The identity and prompt caches' clock, with both caches empty."""
    fake = FakeClock()
    monkeypatch.setattr(identity, "_clock", fake)
    monkeypatch.setattr(identity, "_cache", {})
    monkeypatch.setattr(prompts, "_clock", fake)
    monkeypatch.setattr(prompts, "_cache", {})
    return fake


@pytest.fixture
def master_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(secrets, "_value", MASTER_KEY)
    return MASTER_KEY


@dataclass
class Gateway:
    """The history function's app and the store behind it; LiteLLM faked in process."""

    litellm: FakeLiteLLM
    store: SessionStore
    history: TestClient


HISTORY_TABLE = "history-unit"


@pytest.fixture(scope="module")
def history_table() -> Iterator[Any]:
    """moto's DynamoDB with the template's history table, created once per module (the slow part)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "x",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            patch.setenv(name, value)
        for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
            patch.delenv(name, raising=False)
        with mock_aws():
            create_tables(None, {"HistoryTable": HISTORY_TABLE})
            import boto3

            yield boto3.resource("dynamodb", region_name="us-east-1").Table(HISTORY_TABLE)


def empty(table: Any) -> None:
    """Delete every item (cheaper than a new table per test)."""
    keys = [k["AttributeName"] for k in table.key_schema]
    page: dict[str, Any] = {"ProjectionExpression": ", ".join(keys)}
    while True:
        found = table.scan(**page)
        with table.batch_writer() as batch:
            for item in found["Items"]:
                batch.delete_item(Key={k: item[k] for k in keys})
        if "LastEvaluatedKey" not in found:
            return
        page["ExclusiveStartKey"] = found["LastEvaluatedKey"]


@pytest.fixture
def gateway(
    history_table: Any, clock: FakeClock, master_key: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Gateway]:
    """History on (moto's DynamoDB, emptied for each test), the master key known, the identity cache empty."""
    empty(history_table)
    monkeypatch.setenv("GATEWAY_HISTORY_TABLE", HISTORY_TABLE)
    get_settings.cache_clear()
    get_store.cache_clear()
    litellm = FakeLiteLLM()
    yield Gateway(litellm, get_store(), TestClient(history_app(litellm=litellm.client())))
    get_settings.cache_clear()
    get_store.cache_clear()


@pytest.fixture
def prompts_from_eu_west_1(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The prompt ARNs of these tests live in eu-west-1 and us-east-1: allow them (GATEWAY_PROMPT_REGIONS)."""
    monkeypatch.setenv("GATEWAY_PROMPT_REGIONS", "eu-west-1,us-east-1")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def dynamodb_requests(run: Callable[[], Any]) -> list[tuple[str, dict[str, Any]]]:
    """(operation, parameters) of every DynamoDB request the history models send while ``run()``
    runs. moto reads consistently and charges nothing, so what a read asks for (ConsistentRead,
    a projection, a limit) shows only in the request botocore builds."""
    sent: list[tuple[str, dict[str, Any]]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        sent.append((model.name, dict(params)))

    clients = {id(c): c for c in (m._get_connection().connection.client for m in (SessionItem, MessageItem))}
    for client in clients.values():
        client.meta.events.register("provide-client-params.dynamodb.*", record)
    try:
        run()
    finally:
        for client in clients.values():
            client.meta.events.unregister("provide-client-params.dynamodb.*", record)
    return sent


def projected(params: dict[str, Any]) -> list[str]:
    """The attribute names a request's ProjectionExpression asks for."""
    return sorted(params["ExpressionAttributeNames"][n] for n in params["ProjectionExpression"].split(", "))
