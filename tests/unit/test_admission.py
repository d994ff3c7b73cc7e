"""The admission queue against the machine's real Redis (127.0.0.1:6379), under a prefix of its own.

Order is checked exactly: with one slot, waiters are admitted strictly by priority, then by
arrival; a waiter that gives up or is cancelled leaves; a holder that never releases frees its
slot when its lease ends; an unreachable Redis lets requests through unqueued.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Iterator

import anyio.to_thread
import pytest
import redis.asyncio
from gateway_core import admission
from gateway_core.admission import Slot, acquire_slot, queue_keys
from gateway_core.errors import ServiceUnavailableError
from gateway_core.settings import get_settings

MODEL = "narrow"
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(autouse=True)
def queue(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GATEWAY_PRIORITY_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("GATEWAY_PRIORITY_LIMITS", json.dumps({MODEL: 1}))
    monkeypatch.setenv("GATEWAY_PRIORITY_KEY_PREFIX", f"gateway-unit-admission:{uuid.uuid4().hex}")
    monkeypatch.setenv("GATEWAY_PRIORITY_MAX_WAIT_S", "60")  # a loaded machine is slow, never a 503 here
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def _count(part: int) -> int:
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        return int(await client.zcard(queue_keys(MODEL)[part]))
    finally:
        await client.aclose()


async def _until_waiting(n: int) -> None:
    while await _count(0) != n:
        await asyncio.sleep(0.005)


async def _held() -> Slot:
    slot = await acquire_slot(MODEL, 128)
    assert slot is not None
    return slot


def test_waiters_are_admitted_by_priority_then_arrival() -> None:
    async def run() -> list[str]:
        holder = await _held()
        served: list[str] = []

        async def wait(name: str, priority: int) -> None:
            slot = await acquire_slot(MODEL, priority)
            assert slot is not None
            served.append(name)
            await slot.release()

        waiters = []
        for n, (name, priority) in enumerate([("b1", 200), ("u1", 10), ("b2", 200), ("u2", 10), ("m1", 50)]):
            waiters.append(asyncio.create_task(wait(name, priority)))
            await _until_waiting(n + 1)  # arrival order is the order above
        await holder.release()
        await asyncio.gather(*waiters)
        assert await _count(0) == await _count(1) == await _count(2) == 0
        return served

    assert asyncio.run(run()) == ["u1", "u2", "m1", "b1", "b2"]


def test_an_ungated_model_is_not_queued() -> None:
    assert asyncio.run(acquire_slot("other-model", 0)) is None


def test_a_waiter_past_its_max_wait_gets_a_503_and_leaves(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_PRIORITY_MAX_WAIT_S", "0.1")
    get_settings.cache_clear()

    async def run() -> None:
        holder = await _held()
        with pytest.raises(ServiceUnavailableError, match="at capacity"):
            await acquire_slot(MODEL, 0)
        assert await _count(0) == 0
        await holder.release()

    asyncio.run(run())


def test_a_cancelled_waiter_leaves_the_queue() -> None:
    async def run() -> None:
        holder = await _held()
        waiter = asyncio.create_task(acquire_slot(MODEL, 0))
        await _until_waiting(1)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert await _count(0) == await _count(1) == 0
        await holder.release()
        assert await _count(2) == 0

    asyncio.run(run())


def test_a_holder_that_never_releases_frees_its_slot_when_its_lease_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(admission, "LEASE_MS", 300)

    async def run() -> None:
        crashed = await _held()
        assert crashed._renewing is not None
        crashed._renewing.cancel()  # the instance died: no renewal, no release
        slot = await acquire_slot(MODEL, 128)
        assert slot is not None
        await slot.release()

    asyncio.run(run())


def test_an_unreachable_redis_lets_requests_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_PRIORITY_REDIS_URL", "redis://127.0.0.1:1/0")
    get_settings.cache_clear()
    assert asyncio.run(acquire_slot(MODEL, 0)) is None


def test_a_streamed_answer_holds_its_slot_until_the_stream_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    from collections.abc import AsyncIterator

    import redis as sync_redis
    from gateway_core import identity
    from gateway_core.http import LiteLLMClient
    from openai_chat.app import create_app
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from tests.unit.asgi_transport import AsgiTransport

    async def master() -> str:
        return "sk-master"

    monkeypatch.setattr(identity, "get_master_key", master)
    chunk = {"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "hi"}}]}

    checked = threading.Event()  # the test saw the slot held mid-stream

    async def completions(_: Request) -> Response:
        async def events() -> AsyncIterator[bytes]:
            yield f"data: {json.dumps(chunk)}\n\n".encode()
            await anyio.to_thread.run_sync(checked.wait)
            yield f"data: {json.dumps(chunk)}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    fake = Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])
    client = TestClient(create_app(litellm=LiteLLMClient(AsgiTransport(fake))))
    store = sync_redis.Redis.from_url(REDIS_URL)
    holders = queue_keys(MODEL)[2]
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True, "priority": 7}
    with client.stream(
        "POST", "/v1/chat/completions", headers={"authorization": "Bearer sk-master"}, json=body
    ) as response:
        assert response.headers["x-gateway-priority"] == "7"
        lines = response.iter_lines()
        try:
            assert next(lines).startswith("data: ")
            held_mid_stream = store.zcard(holders)
        finally:
            checked.set()
        assert held_mid_stream == 1
        assert [line for line in lines if line][-1] == "data: [DONE]"
    assert store.zcard(holders) == 0
