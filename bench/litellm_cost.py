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
import os
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import yaml

from bench import latency
from local.litellm_config import CLOUD_CONFIG, build_config
from local.litellm_database import litellm_database_environment
from local.preflight import offline_tool
from local.processes import Child, free_port, spawn, wait_http
from local.template import REPO_ROOT, litellm_task_setting
from local.timeline import family_cpu_s

__all__ = [
    "LITELLM_VARIANTS",
    "CostRun",
    "LiteLLMFamily",
    "WITHOUT_HEAP_FREEZE",
    "Variant",
    "chat_target",
    "c16",
    "measure",
    "rotated_passes",
    "selected_variants",
    "start_variants",
    "table",
    "variant_config",
]


def deployed_log_level() -> str:
    """LITELLM_LOG as the ECS task runs LiteLLM (template.yaml's container environment)."""
    return litellm_task_setting("LITELLM_LOG")


@dataclass(frozen=True)
class Variant:
    """LiteLLM as deployed (ecs_litellm/config.yaml, template.yaml's log level, the image's
    httptools) with ``router``/``litellm``/``general`` settings laid over the config, or the
    server, its log level or Redis changed."""

    name: str
    router: Mapping[str, Any] = field(default_factory=dict)
    litellm: Mapping[str, Any] = field(default_factory=dict)
    general: Mapping[str, Any] = field(default_factory=dict)
    workers: int = 1
    pricing_per_request: bool = False  # custom prices in litellm_params, as before issue 17
    log_level: str = field(default_factory=deployed_log_level)  # LITELLM_LOG
    http: str = "httptools"  # uvicorn's HTTP parser: "httptools" (requirements/litellm.in, the image) or "h11"
    # LiteLLM's CLI always asks uvicorn for uvloop (installed with litellm[proxy], so in the image too);
    # "asyncio" shadows uvloop with a module whose loop is asyncio's own.
    loop: str = "uvloop"
    without: tuple[str, ...] = ()  # modules made unimportable, as if not installed ("opentelemetry.sdk")
    env: Mapping[str, str] = field(default_factory=dict)  # more environment (LiteLLM's own switches)
    # Another LiteLLM venv (the same requirements/litellm.lock under another Python), named by this
    # environment variable of the bench; the variant is left out when it is not set.
    venv_variable: str = ""
    args: tuple[str, ...] = ()  # more `litellm` CLI arguments (the server it runs)
    redis: bool = True  # False: no Redis, even where the run has one
    limited_key: bool = False  # measured with a key that has a budget and rpm/tpm limits (LIMITED_KEY)


# What a product key carries (user_keys onboarding: ONBOARDING_MAX_BUDGET, _RPM_LIMIT, _TPM_LIMIT),
# set far above what the bench spends or sends, so that every check runs and none refuses.
LIMITED_KEY = {"max_budget": 1000.0, "rpm_limit": 1_000_000, "tpm_limit": 1_000_000_000}

_PRICE_FIELDS = ("input_cost_per_token", "output_cost_per_token")
_CLOUD: dict[str, Any] = yaml.safe_load(CLOUD_CONFIG.read_text())

# LiteLLM runs no startup hook when the variable is empty (ecs_litellm/worker_hooks).
NO_HEAP_FREEZE = {"LITELLM_WORKER_STARTUP_HOOKS": ""}
WITHOUT_HEAP_FREEZE = Variant("shipped without the workers' heap freeze", env=NO_HEAP_FREEZE)

# No spend logs and no spend or budget updates (the floor below; budgets go unenforced).
NO_SPEND_BOOKKEEPING = {"disable_spend_logs": True, "disable_spend_updates": True}

# Everything issue 17 changed undone at once (as LiteLLM ran before it); the log level and the HTTP
# parser undone alone (the routing's and the prices' own rows: README, from an earlier run); then
# what was measured and not adopted, and the cost of a product key's limits with and without Redis.
PREVIOUS_ROUTING = {"routing_strategy": "usage-based-routing-v2", "enable_pre_call_checks": True}
LITELLM_VARIANTS = (
    Variant("shipped (config.yaml, template.yaml, image)"),
    Variant(
        "before issue 17 (routing, prices, INFO logs, h11, no heap freeze)",
        router=PREVIOUS_ROUTING,
        pricing_per_request=True,
        log_level="INFO",
        http="h11",
        env=NO_HEAP_FREEZE,
    ),
    WITHOUT_HEAP_FREEZE,
    Variant("shipped without opentelemetry-sdk (the local venv before)", without=("opentelemetry.sdk",)),
    Variant("shipped on Python 3.13 (the image's)", venv_variable="BENCH_LITELLM_VENV_PY313"),
    Variant("shipped + asyncio loop (uvloop off)", loop="asyncio"),
    Variant("shipped + DISABLE_AIOHTTP_TRANSPORT (httpx's own)", env={"DISABLE_AIOHTTP_TRANSPORT": "True"}),
    Variant("shipped + disable_spend_logs", general={"disable_spend_logs": True}),
    Variant("shipped, key with budget + rpm/tpm limits", limited_key=True),
    # Not a product configuration: what is left of LiteLLM's cost with no spend bookkeeping at all
    # (no spend logs, no spend or budget updates, so budgets go unenforced): the bound on what any
    # setting of its spend tracking could save.
    Variant("floor, not a product setting: no spend logs or spend updates", general=NO_SPEND_BOOKKEEPING),
)


def selected_variants(environ: Mapping[str, str]) -> tuple[Variant, ...]:
    """The variants this run can start: one on another venv only when the bench was given it."""
    return tuple(v for v in LITELLM_VARIANTS if not v.venv_variable or environ.get(v.venv_variable))


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
    limited_key: bool = False

    def cpu_seconds(self) -> float:
        parts = family_cpu_s(self.pid, self.name)
        return sum(parts.values()) if parts else float("nan")

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()


def _shadows(data_dir: Path, variant: Variant) -> Path:
    """A folder for PYTHONPATH, ahead of the venv, where each module the variant goes without
    refuses to import (httptools: uvicorn's "auto" falls back to h11, as in LiteLLM's release alone;
    a package's submodule: the package's other modules still come from the venv, PEP 420) and
    uvloop, for the asyncio loop, is asyncio's."""
    folder = data_dir / "shadows" / "".join(c if c.isalnum() else "-" for c in variant.name)
    hidden = [*variant.without, *(("httptools",) if variant.http == "h11" else ())]
    for module in hidden:
        package = folder.joinpath(*module.split("."))
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text(f'raise ImportError("{module} hidden by the bench")\n')
    if variant.loop == "asyncio":
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "uvloop.py").write_text("from asyncio import new_event_loop as new_event_loop\n")
    return folder


def variant_environment(env: Mapping[str, str], variant: Variant, data_dir: Path) -> dict[str, str]:
    out = {**env, **variant.env, "LITELLM_LOG": variant.log_level}
    if variant.http == "h11" or variant.without or variant.loop == "asyncio":  # ahead of the workers' hook
        out["PYTHONPATH"] = os.pathsep.join(p for p in (str(_shadows(data_dir, variant)), env.get("PYTHONPATH")) if p)
    if not variant.redis:
        for name in ("REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD"):
            out.pop(name, None)
    return out


def _venv_environment(venv: Path, database_url: str, data_dir: Path) -> dict[str, str]:
    """Another venv's LiteLLM on the stack's database: its Prisma client generated (the offline
    tool where Prisma's engines cannot be fetched, as the stack does), its bin first on PATH."""
    tool = offline_tool()
    if tool.is_dir():
        return litellm_database_environment(venv, database_url, data_dir, tool, embedded=False, announce=print)
    schema = venv.glob("lib/python*/site-packages/litellm/proxy/schema.prisma")
    subprocess.run([str(venv / "bin" / "prisma"), "generate", "--schema", str(next(schema))], check=True)  # noqa: S603
    return {"PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}


def start_variants(
    stack_litellm: psutil.Process, fake_url: str, redis: str | None, data_dir: Path, variants: tuple[Variant, ...]
) -> list[LiteLLMFamily]:
    """Start one LiteLLM per variant with the stack LiteLLM's environment (its database, master
    key, Prisma engines); all of them at once, then wait for each."""
    stack_env = dict(stack_litellm.environ())
    if redis:  # as deployed: Redis shares rate-limit counters across tasks (router_settings.redis_*)
        host, _, redis_port = redis.partition(":")
        stack_env.update(REDIS_HOST=host, REDIS_PORT=redis_port or "6379")
    litellm_bin = Path(stack_litellm.cmdline()[1])
    logs = data_dir / "logs"
    started: list[LiteLLMFamily] = []
    try:
        for index, variant in enumerate(variants):
            env = variant_environment(stack_env, variant, data_dir)
            program = litellm_bin
            if variant.venv_variable:
                venv = Path(os.environ[variant.venv_variable])
                env.update(_venv_environment(venv, env["DATABASE_URL"], data_dir / f"venv-{index}"))
                program = venv / "bin" / "litellm"
            path = data_dir / f"litellm-variant-{index}.yaml"
            base = build_config(fake_url, env)
            # As deployed: config.yaml's spend write interval (the local stack shortens it for its tests).
            base["general_settings"]["proxy_batch_write_at"] = _CLOUD["general_settings"]["proxy_batch_write_at"]
            config = variant_config(base, variant)
            path.write_text(yaml.safe_dump(config, sort_keys=False))
            port = free_port()
            argv = [str(program), "--config", str(path), "--host", "127.0.0.1", "--port", str(port)]
            argv += ["--num_workers", str(variant.workers), *variant.args]
            child = spawn(f"litellm-variant-{index}", argv, env, logs, cwd=REPO_ROOT)
            url = f"http://127.0.0.1:{port}"
            family = LiteLLMFamily(variant.name, url, child.process.pid, variant.workers, child, variant.limited_key)
            started.append(family)
        for family in started:
            assert family.child is not None
            if not wait_http(f"{family.url}/health/liveliness", 420, family.child.alive):
                raise RuntimeError(f"{family.name} did not start:\n{family.child.relevant_lines()}")
    except BaseException:
        for family in started:
            family.stop()
        raise
    return started


C16_PASSES = 4


@dataclass
class CostRun:
    """What one variant cost: serial latency, CPU per request, throughput at c=16."""

    serial: dict[str, float]
    cpu_ms_serial: float
    per_second_c16: float
    cpu_ms_c16: float
    p50_c16: float
    workers: int
    # A full collection of the collector stalls every request in flight (ecs_litellm/worker_hooks):
    # it shows here, not in the p50.
    p99_c16: float

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


def rotated_passes(families: list[LiteLLMFamily], passes: int) -> Iterator[LiteLLMFamily]:
    """Each LiteLLM once per pass, the order rotated by one each pass: a burst of load from the
    machine's other tenants hits a slice of every LiteLLM rather than the whole of one."""
    for index in range(passes):
        shift = index % len(families)
        yield from families[shift:] + families[:shift]


def chat_target(family: LiteLLMFamily, key: str, limited_key: str) -> latency.Target:
    """A chat completion on ``family``, with the key its variant is measured with."""
    bearer = limited_key if family.limited_key else key
    auth = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"}
    return latency.Target(family.name, f"{family.url}/v1/chat/completions", latency.CHAT, auth)


async def measure(
    families: list[LiteLLMFamily], key: str, limited_key: str, rounds: int, requests: int
) -> dict[str, CostRun]:
    """Interleaved serial rounds over every LiteLLM, then c=16 on each in turn."""
    targets = {f.name: chat_target(f, key, limited_key) for f in families}
    async with aiohttp.ClientSession() as session:  # warm each: first requests fill caches
        for _ in range(10):
            for target in targets.values():
                await latency.whole(session, target)
    before = {f.name: f.cpu_seconds() for f in families}
    serial = await latency.serial(list(targets.values()), rounds)
    serial_cpu = {f.name: (f.cpu_seconds() - before[f.name]) * 1000 / (rounds + 20) for f in families}
    latencies: dict[str, list[float]] = {f.name: [] for f in families}
    seconds = dict.fromkeys(latencies, 0.0)
    cpu_ms_total = dict.fromkeys(latencies, 0.0)
    per_pass = max(requests // C16_PASSES, 16)
    for family in rotated_passes(families, C16_PASSES):
        values, per_second, cpu_ms = await c16(family, targets[family.name], per_pass)
        latencies[family.name] += values
        seconds[family.name] += per_pass / per_second
        cpu_ms_total[family.name] += cpu_ms * (per_pass + 16)
    done = per_pass * C16_PASSES
    c16_summary = {name: latency.summary(values) for name, values in latencies.items()}
    return {
        f.name: CostRun(
            latency.summary(serial[f.name]),
            serial_cpu[f.name],
            done / seconds[f.name],
            cpu_ms_total[f.name] / ((per_pass + 16) * C16_PASSES),
            c16_summary[f.name]["p50"],
            f.workers,
            c16_summary[f.name]["p99"],
        )
        for f in families
    }


def table(runs: Mapping[str, CostRun], load: str) -> list[str]:
    base = next(iter(runs.values()))
    lines = [
        f"### 6b. LiteLLM's own cost per configuration (A/B in one run; {load})",
        "",
        "| LiteLLM | p50 c=1 ms | p99 c=1 ms | CPU ms/request c=1 | req/s c=16 | req/s per worker"
        " | CPU ms/request c=16 | p50 c=16 ms | p99 c=16 ms | p50 c=1 vs first row |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, run in runs.items():
        ratio = run.serial["p50"] / base.serial["p50"]
        lines.append(
            f"| {name} | {run.serial['p50']:.2f} | {run.serial['p99']:.2f} | {run.cpu_ms_serial:.2f} |"
            f" {run.per_second_c16:.1f} | {run.per_second_per_worker:.1f} | {run.cpu_ms_c16:.2f} |"
            f" {run.p50_c16:.1f} | {run.p99_c16:.1f} | {ratio:.2f}x |"
        )
    return [*lines, ""]
