"""Request priority on the real local stack: a saturated deployment serves the more urgent key first.

``fake-gpt-narrow`` takes one request at a time (LiteLLM's max_parallel_requests and the
gateway's admission queue, GATEWAY_PRIORITY_LIMITS). While its slot is held (as by a request of
another instance), an urgent and a batch key queue 6 requests each, interleaved, batch first; the
queue in Redis is read to know every request is waiting before the slot frees (no sleeps). With one slot the
completion order is the service order, so the assertion is exact: every request of the urgent
key ends before any of the batch key's. Medians and their ratio are printed with ``[figure]``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest
import redis
from botocore.exceptions import ClientError

from tests.integration.conftest import PRIORITY_KEY_PREFIX, PRIORITY_REDIS_URL, LocalStack
from tests.integration.test_bedrock_interface import hook_client
from tests.integration.test_openai_interface import new_key

pytestmark = pytest.mark.integration
NARROW = "fake-gpt-narrow"
HI = [{"role": "user", "content": "hi"}]
HELLO = [{"role": "user", "content": [{"text": "hi"}]}]
EACH = 6  # requests per key in a race
SERVICE_MS = "120"  # the fake provider's latency for each queued request
Send = Callable[[str, dict[str, str], int | None], dict[str, str]]  # key, headers, priority -> answer headers


def _queue(part: str) -> str:
    return f"{PRIORITY_KEY_PREFIX}:{{{NARROW}}}:{part}"


def _until(deadline_s: float, check: Callable[[], bool], what: str) -> None:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < deadline_s, f"{what}: not within {deadline_s} s"
        time.sleep(0.01)


def _openai_send(stack: LocalStack) -> Send:
    def send(key: str, headers: dict[str, str], priority: int | None) -> dict[str, str]:
        extra = {} if priority is None else {"priority": priority}
        raw = stack.openai(key, timeout=30).chat.completions.with_raw_response.create(
            model=NARROW, messages=HI, extra_headers=headers, extra_body=extra
        )
        raw.parse()
        return dict(raw.headers)

    return send


def _bedrock_send(stack: LocalStack) -> Send:
    def send(key: str, headers: dict[str, str], priority: int | None) -> dict[str, str]:
        extra = {} if priority is None else {"additionalModelRequestFields": {"priority": priority}}
        answer = hook_client(stack, key, headers).converse(modelId=NARROW, messages=HELLO, **extra)
        return dict(answer["ResponseMetadata"]["HTTPHeaders"])

    return send


@dataclass
class Race:
    ended: dict[str, list[float]]  # key label -> completion times (monotonic)
    waited: dict[str, list[float]]  # key label -> seconds from send to answer

    def median(self, label: str) -> float:
        return statistics.median(self.waited[label])


def _race(stack: LocalStack, send: Send, keys: dict[str, str], priority: int | None = None) -> Race:
    """Hold the slot, queue EACH requests per key (interleaved, in ``keys`` order), free the slot.

    The slot is held the way another instance's request in flight holds it: a ticket in the
    queue's holders set (under Redis' clock, as the gateway's script writes it)."""
    store = redis.Redis.from_url(PRIORITY_REDIS_URL)
    seconds, micros = store.time()
    store.zadd(_queue("holders"), {"test-holder": seconds * 1000 + micros // 1000 + 60_000})
    quick = {"x-fake-latency-ms": SERVICE_MS}
    ended: dict[str, list[float]] = {label: [] for label in keys}
    waited: dict[str, list[float]] = {label: [] for label in keys}

    def timed(label: str, key: str) -> None:
        started = time.monotonic()
        send(key, quick, priority)
        ended[label].append(time.monotonic())
        waited[label].append(time.monotonic() - started)

    try:
        with ThreadPoolExecutor(max_workers=2 * EACH) as pool:
            queued: list[Future[None]] = []
            for _ in range(EACH):
                for label, key in keys.items():
                    queued.append(pool.submit(timed, label, key))
            _until(30, lambda: store.zcard(_queue("waiting")) == 2 * EACH, "every request queued")
            assert not any(future.done() for future in queued), "a request went around the queue"
            store.zrem(_queue("holders"), "test-holder")
            for future in queued:
                future.result()
    finally:
        store.zrem(_queue("holders"), "test-holder")
    return Race(ended, waited)


@pytest.fixture(scope="module")
def keys(stack: LocalStack) -> dict[str, str]:
    return {
        "urgent": new_key(stack, metadata={"priority": 10, "owner": "chatbot"}),  # other metadata ignored
        "batch": new_key(stack, metadata={"priority": 200}),
    }


def _first(race: Race, label: str, other: str) -> None:
    assert max(race.ended[label]) < min(race.ended[other]), (race.ended, race.waited)


@pytest.mark.parametrize("interface", ["openai", "bedrock"])
def test_the_urgent_key_is_served_first_when_the_model_is_saturated(
    stack: LocalStack, keys: dict[str, str], interface: str
) -> None:
    send = _openai_send(stack) if interface == "openai" else _bedrock_send(stack)
    race = _race(stack, send, {"batch": keys["batch"], "urgent": keys["urgent"]})
    _first(race, "urgent", "batch")
    urgent, batch = race.median("urgent"), race.median("batch")
    print(f"[figure] {interface}: median wait urgent {urgent:.3f} s, batch {batch:.3f} s, ratio {batch / urgent:.2f}")
    assert urgent < batch


@pytest.mark.parametrize("interface", ["openai", "bedrock"])
def test_swapped_priorities_swap_the_order(stack: LocalStack, interface: str) -> None:
    keys = {
        "was_batch": new_key(stack, metadata={"priority": 10}),
        "was_urgent": new_key(stack, metadata={"priority": 200}),
    }
    send = _openai_send(stack) if interface == "openai" else _bedrock_send(stack)
    race = _race(stack, send, {"was_urgent": keys["was_urgent"], "was_batch": keys["was_batch"]})
    _first(race, "was_batch", "was_urgent")
    first, second = race.median("was_batch"), race.median("was_urgent")
    print(
        f"[figure] {interface} swapped: median wait now-urgent {first:.3f} s, "
        f"now-batch {second:.3f} s, ratio {second / first:.2f}"
    )


def test_a_team_priority_applies_to_its_keys(stack: LocalStack, keys: dict[str, str]) -> None:
    admin = {"Authorization": f"Bearer {stack.master_key}"}
    team = httpx.post(f"{stack.gateway_url}/team/new", headers=admin, json={"metadata": {"priority": 5}}, timeout=30)
    assert team.status_code == 200, team.text
    member = new_key(stack, team_id=team.json()["team_id"])
    race = _race(stack, _openai_send(stack), {"keyed": keys["urgent"], "team": member})
    _first(race, "team", "keyed")  # team 5 beats key 10


def test_a_caller_cannot_raise_its_priority(stack: LocalStack, keys: dict[str, str]) -> None:
    # The batch key asks for 0 on every request: it stays at its key's 200, behind the urgent key.
    race = _race(stack, _openai_send(stack), {"batch": keys["batch"], "urgent": keys["urgent"]}, priority=0)
    _first(race, "urgent", "batch")
    openai_headers = _openai_send(stack)(keys["batch"], {}, 0)
    bedrock_headers = _bedrock_send(stack)(keys["batch"], {}, 0)
    assert openai_headers["x-gateway-priority"] == bedrock_headers["x-gateway-priority"] == "200"
    # ...but may lower it, and the master key may ask for any.
    assert _openai_send(stack)(keys["urgent"], {}, 250)["x-gateway-priority"] == "250"
    assert _openai_send(stack)(stack.master_key, {}, 0)["x-gateway-priority"] == "0"
    # Nor can it rewrite its own metadata through the passthrough routes.
    update = httpx.post(
        f"{stack.gateway_url}/key/update",
        headers={"Authorization": f"Bearer {keys['batch']}"},
        json={"key": keys["batch"], "metadata": {"priority": 0}},
        timeout=30,
    )
    assert update.status_code in {401, 403}, update.text
    assert _openai_send(stack)(keys["batch"], {}, None)["x-gateway-priority"] == "200"


@pytest.mark.parametrize("bad", [-1, 256, 1.5, "1", True])
def test_an_invalid_priority_is_a_400_in_each_interface_shape(stack: LocalStack, bad: Any) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        stack.openai().chat.completions.create(model=NARROW, messages=HI, extra_body={"priority": bad})
    assert caught.value.body["param"] == "priority"  # type: ignore[index]
    with pytest.raises(ClientError) as refused:
        hook_client(stack).converse(modelId="fake-gpt", messages=HELLO, additionalModelRequestFields={"priority": bad})
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
