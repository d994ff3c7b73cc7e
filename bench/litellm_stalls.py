"""Section 6c: LiteLLM's stalls at c=16, with and without the workers' heap freeze.

A full collection of Python's cyclic collector stops a LiteLLM worker's event loop, so every
request in flight waits for it; without the freeze (ecs_litellm/worker_hooks) one takes ~0.9 s
about once per 600 requests. Section 6b's 200 requests at c=16 per variant rarely contain one, so
here the shipped LiteLLM and the one without the freeze serve more, in alternating passes (a burst
of load from the machine's other tenants hits a slice of each), and the slow end is counted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bench import latency
from bench.litellm_cost import LiteLLMFamily, c16, rotated_passes

__all__ = ["STALL_FACTOR", "Stalls", "measure", "stalls", "table"]

# A request slower than this many times its LiteLLM's own p50 at c=16 counts as stalled: a full
# collection adds ~0.9 s to requests whose p50 is ~0.15-0.25 s here.
STALL_FACTOR = 3.0
PASSES = 4


@dataclass(frozen=True)
class Stalls:
    p50: float
    p99: float
    p999: float
    slowest: float
    stalled: int  # requests slower than STALL_FACTOR x p50
    requests: int


def stalls(latencies: list[float]) -> Stalls:
    p50 = latency.percentile(latencies, 50)
    return Stalls(
        p50,
        latency.percentile(latencies, 99),
        latency.percentile(latencies, 99.9),
        max(latencies),
        sum(1 for value in latencies if value > STALL_FACTOR * p50),
        len(latencies),
    )


async def measure(
    families: list[LiteLLMFamily], target_of: Callable[[LiteLLMFamily], latency.Target], requests: int
) -> dict[str, Stalls]:
    """``requests`` at c=16 on each of ``families``, in PASSES passes (litellm_cost.rotated_passes)."""
    latencies: dict[str, list[float]] = {f.name: [] for f in families}
    for family in rotated_passes(families, PASSES):
        values, _, _ = await c16(family, target_of(family), requests // PASSES)
        latencies[family.name] += values
    return {name: stalls(values) for name, values in latencies.items()}


def table(results: Mapping[str, Stalls]) -> list[str]:
    requests = next(iter(results.values())).requests
    lines = [
        f"### 6c. LiteLLM's stalls at c=16: the workers' heap freeze ({requests} requests each, {PASSES} passes)",
        "",
        f"| LiteLLM | p50 ms | p99 ms | p99.9 ms | slowest ms | requests over {STALL_FACTOR:g}x p50 |",
        "|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        lines.append(
            f"| {name} | {result.p50:.1f} | {result.p99:.1f} | {result.p999:.1f} | {result.slowest:.1f} |"
            f" {result.stalled} ({result.stalled / result.requests:.1%}) |"
        )
    return [*lines, ""]
