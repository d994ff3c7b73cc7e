"""Request latency through each layer, serial and concurrent, and time to first streamed byte."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import psutil

CHAT = {"model": "fake-gpt", "messages": [{"role": "user", "content": "Say hello"}]}
CONVERSE = {"messages": [{"role": "user", "content": [{"text": "Say hello"}]}]}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "n": len(values),
    }


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def targets(fake: str, litellm: str, gateway: str, key: str, *, stream: bool = False) -> list[Target]:
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    chat = {**CHAT, "stream": True} if stream else CHAT
    found = [
        Target("fake provider", f"{fake}/v1/chat/completions", chat, {"Content-Type": "application/json"}),
        Target("LiteLLM", f"{litellm}/v1/chat/completions", chat, auth),
        Target("gateway OpenAI", f"{gateway}/v1/chat/completions", chat, auth),
        Target(
            "gateway Converse" + ("Stream" if stream else ""),
            f"{gateway}/bedrock/model/fake-gpt/converse" + ("-stream" if stream else ""),
            CONVERSE,
            auth,
        ),
    ]
    return found[1:] if stream else found


Timed = Callable[[aiohttp.ClientSession, Target], Awaitable[float]]


async def whole(session: aiohttp.ClientSession, target: Target) -> float:
    """Milliseconds until the whole answer was read."""
    started = time.perf_counter()
    async with session.post(target.url, data=json.dumps(target.body), headers=target.headers) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"{target.name}: HTTP {response.status}")
    return (time.perf_counter() - started) * 1000


async def first_byte(session: aiohttp.ClientSession, target: Target) -> float:
    """Milliseconds until the first streamed chunk arrived (then the rest is drained)."""
    started = time.perf_counter()
    async with session.post(target.url, data=json.dumps(target.body), headers=target.headers) as response:
        if response.status != 200:
            raise RuntimeError(f"{target.name}: HTTP {response.status}")
        await response.content.readany()
        elapsed = (time.perf_counter() - started) * 1000
        await response.read()
    return elapsed


# LiteLLM goes on working after it answers (success logging, spend bookkeeping: its CPU per request
# exceeds its latency by several ms), and the next request pays for it. In a fixed order the same
# target always paid (the gateway's OpenAI route, after LiteLLM direct), while LiteLLM direct, after
# the fake provider, always found LiteLLM idle: on an idle machine that read +3.5 ms p50 over LiteLLM
# in the fixed order and +1.2 ms shuffled (2026-11-30). Each round's order is shuffled (seeded, so
# runs stay comparable): every target follows every other as often.


async def serial(
    all_targets: list[Target], rounds: int, timed: Timed = whole, headers: dict[str, str] | None = None
) -> dict[str, list[float]]:
    """Targets interleaved round by round, so drift in the machine's load hits all alike."""
    results: dict[str, list[float]] = {t.name: [] for t in all_targets}
    extra = [Target(t.name, t.url, t.body, {**t.headers, **(headers or {})}) for t in all_targets]
    order = random.Random(17)  # noqa: S311 (an order, not a secret)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=4)) as session:
        for _ in range(20):
            for target in extra:
                await timed(session, target)
        for _ in range(rounds):
            for target in order.sample(extra, len(extra)):
                results[target.name].append(await timed(session, target))
    return results


async def concurrent(
    target: Target, requests: int, workers: int, process: psutil.Process | None
) -> tuple[list[float], float | None]:
    """Latencies at ``workers`` in flight, and the gateway process's CPU ms per request."""
    latencies: list[float] = []
    queue = iter(range(requests))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=workers)) as session:
        await asyncio.gather(*(whole(session, target) for _ in range(workers)))  # warm the pool

        async def worker() -> None:
            for _ in queue:
                latencies.append(await whole(session, target))

        before = process.cpu_times() if process else None
        await asyncio.gather(*(worker() for _ in range(workers)))
        after = process.cpu_times() if process else None
    cpu = None
    if before is not None and after is not None:
        cpu = ((after.user + after.system) - (before.user + before.system)) * 1000 / requests
    return latencies, cpu
