"""LiteLLM's own cost per request, and each configuration setting's effect, A/B in one run.

Next to the stack's LiteLLM, one more LiteLLM per variant is started on the same database,
fake provider and Redis (so the same virtual key works on each): the production config
(ecs_litellm/config.yaml, as local/litellm_config.py derives it) with one setting changed.
The variants are then measured interleaved, round by round (drift in the machine's load hits all
alike), and one after another at c=16. CPU is read from /proc for each LiteLLM process family
(uvicorn's workers included), so it shows the cost of a request however loaded the machine is.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import yaml

from bench import latency
from local.litellm_config import build_config
from local.processes import Child, free_port, spawn, wait_http
from local.template import REPO_ROOT
from local.timeline import family_cpu_s

__all__ = [
    "LITELLM_VARIANTS",
    "CostRun",
    "LiteLLMFamily",
    "Variant",
    "c16",
    "measure",
    "start_variants",
    "table",
    "variant_config",
]


@dataclass(frozen=True)
class Variant:
    """The production config with ``router``/``litellm``/``general`` settings laid over it."""

    name: str
    router: Mapping[str, Any] = field(default_factory=dict)
    litellm: Mapping[str, Any] = field(default_factory=dict)
    general: Mapping[str, Any] = field(default_factory=dict)
    workers: int = 1
    pricing_per_request: bool = False  # custom prices in litellm_params, as before issue 17


_PRICE_FIELDS = ("input_cost_per_token", "output_cost_per_token")


# What ecs_litellm/config.yaml shipped before issue 17, whole and setting by setting, against what
# it ships now. (The examples' custom prices sat in litellm_params, as the local fake models' did.)
PREVIOUS_ROUTING = {"routing_strategy": "usage-based-routing-v2", "enable_pre_call_checks": True}
LITELLM_VARIANTS = (
    Variant("config.yaml as shipped"),
    Variant("previous config (both settings below)", router=PREVIOUS_ROUTING, pricing_per_request=True),
    Variant("shipped + usage-based-routing-v2 + pre-call checks", router=PREVIOUS_ROUTING),
    Variant("shipped + prices in litellm_params", pricing_per_request=True),
)


def variant_config(base: Mapping[str, Any], variant: Variant) -> dict[str, Any]:
    config: dict[str, Any] = copy.deepcopy(dict(base))
    for section, overlay in (
        ("router_settings", variant.router),
        ("litellm_settings", variant.litellm),
        ("general_settings", variant.general),
    ):
        settings = config.setdefault(section, {}) or {}
        config[section] = {**settings, **overlay}
    if variant.pricing_per_request:
        for model in config["model_list"]:
            info = model.get("model_info") or {}
            model["litellm_params"].update({k: info.pop(k) for k in _PRICE_FIELDS if k in info})
    return config


@dataclass
class LiteLLMFamily:
    """A LiteLLM proxy: its root process and uvicorn's workers, read from /proc."""

    name: str
    url: str
    pid: int
    workers: int
    child: Child | None = None  # None: the stack's own, which the stack stops

    def cpu_seconds(self) -> float:
        parts = family_cpu_s(self.pid, self.name)
        return sum(parts.values()) if parts else float("nan")

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()


def start_variants(
    stack_litellm: psutil.Process, fake_url: str, redis: str | None, data_dir: Path, variants: tuple[Variant, ...]
) -> list[LiteLLMFamily]:
    """Start one LiteLLM per variant with the stack LiteLLM's environment (its database, master
    key, Prisma engines); all of them at once, then wait for each."""
    env = dict(stack_litellm.environ())
    if redis:  # as deployed: Redis shares rate-limit counters across tasks (router_settings.redis_*)
        host, _, port = redis.partition(":")
        env.update(REDIS_HOST=host, REDIS_PORT=port or "6379")
    base = build_config(fake_url, env)
    litellm_bin = Path(stack_litellm.cmdline()[1])
    logs = data_dir / "logs"
    started: list[LiteLLMFamily] = []
    try:
        for index, variant in enumerate(variants):
            path = data_dir / f"litellm-variant-{index}.yaml"
            path.write_text(yaml.safe_dump(variant_config(base, variant), sort_keys=False))
            port = free_port()
            argv = [str(litellm_bin), "--config", str(path), "--host", "127.0.0.1", "--port", str(port)]
            argv += ["--num_workers", str(variant.workers)]
            child = spawn(f"litellm-variant-{index}", argv, env, logs, cwd=REPO_ROOT)
            url = f"http://127.0.0.1:{port}"
            started.append(LiteLLMFamily(variant.name, url, child.process.pid, variant.workers, child))
        for family in started:
            assert family.child is not None
            if not wait_http(f"{family.url}/health/liveliness", 420, family.child.alive):
                raise RuntimeError(f"{family.name} did not start:\n{family.child.relevant_lines()}")
    except BaseException:
        for family in started:
            family.stop()
        raise
    return started


@dataclass
class CostRun:
    """What one variant cost: serial latency, CPU per request, throughput at c=16."""

    serial: dict[str, float]
    cpu_ms_serial: float
    per_second_c16: float
    cpu_ms_c16: float
    p50_c16: float
    workers: int

    @property
    def per_second_per_worker(self) -> float:
        return self.per_second_c16 / self.workers


async def c16(family: LiteLLMFamily, target: latency.Target, requests: int) -> tuple[list[float], float, float]:
    """``requests`` at 16 in flight: (latencies, requests per second, LiteLLM CPU ms per request)."""
    before = family.cpu_seconds()
    started = time.perf_counter()
    latencies, _ = await latency.concurrent(target, requests, 16, None)
    elapsed = time.perf_counter() - started  # includes the 16 warm-up requests: a slight undercount
    cpu_ms = (family.cpu_seconds() - before) * 1000 / (requests + 16)
    return latencies, requests / elapsed, cpu_ms


async def measure(families: list[LiteLLMFamily], key: str, rounds: int, requests: int) -> dict[str, CostRun]:
    """Interleaved serial rounds over every LiteLLM, then c=16 on each in turn."""
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    targets = {f.name: latency.Target(f.name, f"{f.url}/v1/chat/completions", latency.CHAT, auth) for f in families}
    async with aiohttp.ClientSession() as session:  # warm each: first requests fill caches
        for _ in range(10):
            for target in targets.values():
                await latency.whole(session, target)
    before = {f.name: f.cpu_seconds() for f in families}
    serial = await latency.serial(list(targets.values()), rounds)
    serial_cpu = {f.name: (f.cpu_seconds() - before[f.name]) * 1000 / (rounds + 20) for f in families}
    runs: dict[str, CostRun] = {}
    for family in families:
        latencies, per_second, cpu_ms = await c16(family, targets[family.name], requests)
        runs[family.name] = CostRun(
            latency.summary(serial[family.name]),
            serial_cpu[family.name],
            per_second,
            cpu_ms,
            latency.summary(latencies)["p50"],
            family.workers,
        )
    return runs


def table(runs: Mapping[str, CostRun], load: str) -> list[str]:
    base = next(iter(runs.values()))
    lines = [
        f"### 6b. LiteLLM's own cost per configuration (A/B in one run; {load})",
        "",
        "| LiteLLM | p50 c=1 ms | p99 c=1 ms | CPU ms/request c=1 | req/s c=16 | req/s per worker"
        " | CPU ms/request c=16 | p50 c=16 ms | p50 c=1 vs first row |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, run in runs.items():
        ratio = run.serial["p50"] / base.serial["p50"]
        lines.append(
            f"| {name} | {run.serial['p50']:.2f} | {run.serial['p99']:.2f} | {run.cpu_ms_serial:.2f} |"
            f" {run.per_second_c16:.1f} | {run.per_second_per_worker:.1f} | {run.cpu_ms_c16:.2f} |"
            f" {run.p50_c16:.1f} | {ratio:.2f}x |"
        )
    return [*lines, ""]
