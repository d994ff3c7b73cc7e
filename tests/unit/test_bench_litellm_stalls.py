"""Section 6c's arithmetic and pass order (bench/litellm_stalls.py)."""

from __future__ import annotations

import asyncio

import pytest

from bench import latency, litellm_stalls
from bench.litellm_cost import LiteLLMFamily

# 1,000 requests: 980 at the p50, ten at exactly 3x it (not stalled: the bound is strict), nine
# just over, one full collection.
LATENCIES = [100.0] * 980 + [300.0] * 10 + [350.0] * 9 + [1000.0]


def test_stalls_are_counted_past_three_times_the_p50() -> None:
    assert litellm_stalls.stalls(LATENCIES) == litellm_stalls.Stalls(
        p50=100.0, p99=300.0, p999=1000.0, slowest=1000.0, stalled=10, requests=1000
    )


def test_the_table_shows_the_share_stalled() -> None:
    result = litellm_stalls.stalls(LATENCIES)
    lines = litellm_stalls.table({"shipped": result})
    assert lines[0] == "### 6c. LiteLLM's stalls at c=16: the workers' heap freeze (1000 requests each, 4 passes)"
    assert lines[4] == "| shipped | 100.0 | 300.0 | 1000.0 | 1000.0 | 10 (1.0%) |"


def test_passes_alternate_which_litellm_goes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, int]] = []

    async def fake_c16(
        family: LiteLLMFamily, target: latency.Target, requests: int
    ) -> tuple[list[float], float, float]:
        calls.append((family.name, requests))
        return [float(len(calls))] * requests, 0.0, 0.0

    monkeypatch.setattr(litellm_stalls, "c16", fake_c16)
    families = [LiteLLMFamily("a", "http://a", 1, 1), LiteLLMFamily("b", "http://b", 2, 1)]
    target = latency.Target("t", "http://t", {})
    results = asyncio.run(litellm_stalls.measure(families, lambda _: target, 800))
    assert calls == [("a", 200), ("b", 200), ("b", 200), ("a", 200), ("a", 200), ("b", 200), ("b", 200), ("a", 200)]
    # each LiteLLM's latencies are its own passes' (the fake answers with its call's number)
    assert (results["a"].requests, results["a"].slowest, results["b"].slowest) == (800, 8.0, 7.0)
