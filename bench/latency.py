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
from botocore.eventstream import EventStreamBuffer

CHAT = {"model": "fake-gpt", "messages": [{"role": "user", "content": "Say hello"}]}
CONVERSE = {"messages": [{"role": "user", "content": [{"text": "Say hello"}]}]}
UPSTREAM = "upstream middleware"  # its targets' names begin with this (bench/upstream.py)
# Locally every request is traced (nothing decides otherwise). In AWS, Lambda's default sampling
# traces the first request of each second and 5% of the rest, and the Lambda Web Adapter hands the
# decision to the function in this header: the rows "..., not sampled" are the other 95% at load.
NOT_SAMPLED = {"X-Amzn-Trace-Id": "Root=1-674c1a2b-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=0"}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def paired_range(ours: list[float], base: list[float], q: float, resamples: int = 1000) -> tuple[float, float]:
    """The 90% range of ``percentile(ours, q) - percentile(base, q)`` by a bootstrap over the
    rounds of a serial run: round i of each path was timed in the same shuffled round, so a
    resample draws rounds, keeping each pair (a stall of the machine's hits both sides of its round)."""
    if len(ours) != len(base):
        raise ValueError("a paired range needs one value of each path per round")
    draw = random.Random(17)  # noqa: S311 (a resample, not a secret)
    rounds = range(len(ours))
    differences = []
    for _ in range(resamples):
        picked = draw.choices(rounds, k=len(ours))
        differences.append(percentile([ours[i] for i in picked], q) - percentile([base[i] for i in picked], q))
    return percentile(differences, 5), percentile(differences, 95)


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


def targets(
    fake: str, litellm: str, gateway: str, key: str, *, stream: bool = False, upstream: str | None = None
) -> list[Target]:
    """Each layer's chat route; ``upstream``: the upstream project's middleware (bench/upstream.py)
    too, on the same two routes as ours ("upstream middleware X" beside "gateway X")."""
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    chat = {**CHAT, "stream": True} if stream else CHAT
    converse = "/bedrock/model/fake-gpt/converse" + ("-stream" if stream else "")
    suffix = "Stream" if stream else ""
    found = [
        Target("fake provider", f"{fake}/v1/chat/completions", chat, {"Content-Type": "application/json"}),
        Target("LiteLLM", f"{litellm}/v1/chat/completions", chat, auth),
        Target("gateway OpenAI", f"{gateway}/v1/chat/completions", chat, auth),
        Target("gateway OpenAI, not sampled", f"{gateway}/v1/chat/completions", chat, {**auth, **NOT_SAMPLED}),
        Target(f"gateway Converse{suffix}", gateway + converse, CONVERSE, auth),
    ]
    if upstream:
        found += [
            Target(f"{UPSTREAM} OpenAI", f"{upstream}/v1/chat/completions", chat, auth),
            Target(f"{UPSTREAM} Converse{suffix}", upstream + converse, CONVERSE, auth),
        ]
    return found[1:] if stream else found


def answer_text(content_type: str, body: bytes) -> str:
    """The assistant's text in an answer of any route here (OpenAI or Converse, whole or streamed);
    "" when there is none. A status 200 is not enough: the upstream middleware answers LiteLLM's
    errors on its OpenAI route with 200 and an error body."""
    if content_type.startswith("application/vnd.amazon.eventstream"):
        buffer = EventStreamBuffer()
        buffer.add_data(body)  # botocore's decoder, as a boto3 client reads it (checks every CRC)
        text = ""
        for message in buffer:
            if message.headers.get(":event-type") == "contentBlockDelta":
                text += json.loads(message.payload).get("delta", {}).get("text", "")
        return text
    if content_type.startswith("text/event-stream"):
        text = ""
        for line in body.decode().splitlines():
            if line.startswith("data: {"):
                for choice in json.loads(line[len("data: ") :]).get("choices", []):
                    text += (choice.get("delta") or {}).get("content") or ""
        return text
    answer = json.loads(body)
    if "choices" in answer:
        return str(answer["choices"][0]["message"].get("content") or "")
    return "".join(block.get("text", "") for block in answer.get("output", {}).get("message", {}).get("content", []))


async def check_answers(all_targets: list[Target], headers: dict[str, str] | None = None) -> None:
    """One request to each target, which must answer 200 with the assistant's text: a route that
    answers errors fast must not pass for a fast route."""
    async with aiohttp.ClientSession() as session:
        for target in all_targets:
            sent = {**target.headers, **(headers or {})}
            async with session.post(target.url, data=json.dumps(target.body), headers=sent) as response:
                body = await response.read()
                text = answer_text(response.headers.get("Content-Type", ""), body) if response.status == 200 else ""
            if not text:
                raise RuntimeError(f"{target.name}: no answer (HTTP {response.status}): {body[:300]!r}")


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
    all_targets: list[Target],
    rounds: int,
    timed: Timed = whole,
    headers: dict[str, str] | None = None,
    sent: list[tuple[Target, bool]] | None = None,
) -> dict[str, list[float]]:
    """Targets interleaved round by round, so drift in the machine's load hits all alike.
    ``sent``: every request's target appended in the order sent, and whether it was timed (the 20
    warm-up rounds are not), for a capture of the same run (bench/wire.py)."""
    results: dict[str, list[float]] = {t.name: [] for t in all_targets}
    extra = [Target(t.name, t.url, t.body, {**t.headers, **(headers or {})}) for t in all_targets]
    order = random.Random(17)  # noqa: S311 (an order, not a secret)
    log = sent if sent is not None else []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=4)) as session:
        for _ in range(20):
            for target in extra:
                log.append((target, False))
                await timed(session, target)
        for _ in range(rounds):
            for target in order.sample(extra, len(extra)):
                log.append((target, True))
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
