"""`make bench` (python -m bench [--quick]): one run, every layer side by side.

Markdown on stdout, JSON in bench/results/ (with the core count and the commit). The fake
provider answers at zero latency, so what remains is the cost of each layer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from bench import coldstart, history, latency, litellm_cost, litellm_stalls, relay, upstream, wire
from bench.stack import FAKE_TTFT_MS, MASTER_KEY, BenchStack, start_stack
from local.template import REPO_ROOT

RESULTS = REPO_ROOT / "bench" / "results"


def _commit() -> str:
    git = ["git", "-C", str(REPO_ROOT)]
    result = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)  # noqa: S603
    dirty = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True, check=False).stdout.strip()  # noqa: S603
    return result.stdout.strip() + ("+dirty" if dirty else "")


# Section 1d: per request, what a relay adds on the wire, LiteLLM's time left out (bench/wire.py).
WIRE_TITLE = "1d. What each relay holds a request, on the wire (whole answers, {rounds} rounds)"


def _row(name: str, stats: dict[str, float], extra: str = "") -> str:
    return f"| {name} | {stats['p50']:.2f} | {stats['p90']:.2f} | {stats['p99']:.2f} | {extra} |"


def _latency_section(
    title: str, runs: dict[str, list[float]], cpu: dict[str, float | None] | None = None, paired: bool = True
) -> tuple[list[str], dict[str, Any]]:
    """``paired``: the runs are serial, one value of each path per shuffled round, so each "over
    LiteLLM" figure gets its 90% range from a bootstrap over the rounds (latency.paired_range)."""
    stats = {name: latency.summary(values) for name, values in runs.items()}
    base = stats["LiteLLM"]
    lines = [f"### {title}", "", "| path | p50 ms | p90 ms | p99 ms | notes |", "|---|---|---|---|---|"]
    for name, s in stats.items():
        note = ""
        theirs = name.startswith(latency.UPSTREAM)
        if name.startswith(wire.RELAYS):
            over = []
            for q in ("p50", "p99"):
                over.append(f"{q} {s[q] - base[q]:+.2f}")
                if paired:
                    low, high = latency.paired_range(runs[name], runs["LiteLLM"], float(q[1:]))
                    over[-1] += f" (90%: {low:+.2f} to {high:+.2f})"
            note = "over LiteLLM: " + ", ".join(over)
            if cpu and cpu.get(name) is not None:
                note += f"; {'middleware' if theirs else 'gateway'} CPU {cpu[name]:.2f} ms/request"
        ours = stats.get(name.replace(latency.UPSTREAM, "gateway")) if theirs else None
        if ours is not None:  # issue 17: never slower than the upstream middleware on any route
            note += f"; gateway minus it: p50 {ours['p50'] - s['p50']:+.2f}, p99 {ours['p99'] - s['p99']:+.2f}"
        lines.append(_row(name, s, note))
    return lines + [""], {"stats": stats, "cpu_ms_per_request": cpu}


async def _first_bytes(
    stack: BenchStack, key: str, theirs: str | None, rounds: int
) -> tuple[list[str], dict[str, Any]]:
    """Section 2: time to the first streamed byte, each route checked to answer first."""
    streams = latency.targets(stack.fake, stack.litellm, stack.gateway, key, stream=True, upstream=theirs)
    # The header for the routes that forward it; the upstream middleware's get the fake provider's
    # default, the same (bench/stack.py).
    ttft_header = {"x-fake-ttft-ms": str(FAKE_TTFT_MS)}
    await latency.check_answers(streams, ttft_header)
    first, held = await wire.serial_with_holds(
        streams, rounds, stack.litellm, stack.data_dir / "wire-2.pcap", latency.first_byte, ttft_header
    )
    title = f"2. Time to first streamed byte (provider TTFT {FAKE_TTFT_MS} ms, {rounds} rounds, interleaved)"
    lines, report = _latency_section(title, first)
    lines += wire.table(
        f"2b. What each relay holds a stream until its first body byte, on the wire ({rounds} rounds)",
        held,
        stream=True,
    )
    report["held_on_the_wire"] = _held_report(held)
    return lines, report


def _held_report(held: dict[str, list[wire.Hold] | str] | str) -> dict[str, Any] | str:
    if isinstance(held, str):
        return held
    return {name: found if isinstance(found, str) else [vars(h) for h in found] for name, found in held.items()}


async def _requests(
    stack: BenchStack, key: str, rounds: int, requests: int, middleware: upstream.UpstreamMiddleware | None
) -> tuple[list[str], dict[str, Any]]:
    theirs = middleware.url if middleware else None
    targets = latency.targets(stack.fake, stack.litellm, stack.gateway, key, upstream=theirs)
    await latency.check_answers(targets)
    out: list[str] = []
    report: dict[str, Any] = {}
    litellm = litellm_cost.LiteLLMFamily("LiteLLM", stack.litellm, stack.litellm_process().pid, workers=1)
    litellm_before = litellm.cpu_seconds()
    serial, held = await wire.serial_with_holds(targets, rounds, stack.litellm, stack.data_dir / "wire-1.pcap")
    # Each round (and each of the 20 warm-up rounds) reaches LiteLLM once per target but the fake provider.
    litellm_serial_cpu = (litellm.cpu_seconds() - litellm_before) * 1000 / ((len(targets) - 1) * (rounds + 20))
    lines, report["serial"] = _latency_section(
        f"1. Request latency, serial (c=1, {rounds} rounds, interleaved)", serial
    )
    out += lines + wire.table(WIRE_TITLE.format(rounds=rounds), held, stream=False)
    report["serial"]["held_on_the_wire"] = _held_report(held)
    gateway_process = stack.gateway_process()
    runs, cpu = {}, {}
    litellm_per_second = litellm_c16_cpu = float("nan")
    for target in targets:
        if target.name == "LiteLLM":
            runs[target.name], litellm_per_second, litellm_c16_cpu = await litellm_cost.c16(litellm, target, requests)
            cpu[target.name] = None
            continue
        watched = gateway_process if target.name.startswith("gateway") else None
        if middleware and target.name.startswith(latency.UPSTREAM):
            watched = middleware.process()
        runs[target.name], cpu[target.name] = await latency.concurrent(target, requests, 16, watched)
    lines, report["concurrent"] = _latency_section(
        f"1b. Request latency, concurrent (c=16, {requests} requests each) and 5. gateway CPU", runs, cpu, paired=False
    )
    out += lines
    lines, report["first_byte"] = await _first_bytes(stack, key, theirs, max(rounds // 2, 20))
    out += lines
    own = {
        "p50_c1_ms": report["serial"]["stats"]["LiteLLM"]["p50"],
        "cpu_ms_per_request_c1": litellm_serial_cpu,
        "requests_per_s_c16": litellm_per_second,
        "requests_per_s_per_worker_c16": litellm_per_second / litellm.workers,
        "cpu_ms_per_request_c16": litellm_c16_cpu,
    }
    report["litellm_own_cost"] = own
    gateway_cpu = [c for name, c in cpu.items() if name.startswith("gateway") and c is not None]
    upstream_cpu = [c for name, c in cpu.items() if name.startswith(latency.UPSTREAM) and c is not None]
    out += [
        "### 6. LiteLLM's own cost next to ours (the stack's LiteLLM: config.yaml as shipped, 1 worker)",
        "",
        "| | p50 c=1 ms | CPU ms/request c=1 | req/s c=16 | req/s per worker c=16 | CPU ms/request c=16 |",
        "|---|---|---|---|---|---|",
        f"| LiteLLM | {own['p50_c1_ms']:.2f} | {own['cpu_ms_per_request_c1']:.2f} | {own['requests_per_s_c16']:.1f} |"
        f" {own['requests_per_s_per_worker_c16']:.1f} | {own['cpu_ms_per_request_c16']:.2f} |",
        "| gateway (ours, over LiteLLM) | "
        + " | ".join(
            [
                f"{report['serial']['stats']['gateway OpenAI']['p50'] - own['p50_c1_ms']:+.2f} (OpenAI)",
                "",
                "",
                "",
                f"{max(gateway_cpu):.2f} (dearer route)" if gateway_cpu else "",
            ]
        )
        + " |",
    ]
    if middleware:
        their_p50 = report["serial"]["stats"][f"{latency.UPSTREAM} OpenAI"]["p50"] - own["p50_c1_ms"]
        their_cpu = f"{max(upstream_cpu):.2f} (dearer route)" if upstream_cpu else ""
        out.append(f"| {latency.UPSTREAM} (theirs, over LiteLLM) | {their_p50:+.2f} (OpenAI) |  |  |  | {their_cpu} |")
    out.append("")
    return out, report


def _litellm_variants(stack: BenchStack, key: str, rounds: int, requests: int) -> tuple[list[str], dict[str, Any]]:
    """Section 6b: each setting of config.yaml A/B, one LiteLLM per variant on the stack's database."""
    redis = os.environ.get("BENCH_REDIS", "127.0.0.1:6379") or None  # as deployed: Redis; "" = without
    families = litellm_cost.start_variants(
        stack.litellm_process(), stack.fake, redis, stack.data_dir, litellm_cost.selected_variants(os.environ)
    )
    try:
        limited_key = _generate_key(stack, **litellm_cost.LIMITED_KEY)
        runs = asyncio.run(litellm_cost.measure(families, key, limited_key, rounds, requests))
        # 6c: eight times 6b's requests at c=16, enough for a few full collections without the freeze.
        frozen_or_not = {litellm_cost.LITELLM_VARIANTS[0].name, litellm_cost.WITHOUT_HEAP_FREEZE.name}
        pair = [f for f in families if f.name in frozen_or_not]
        stalls = asyncio.run(
            litellm_stalls.measure(pair, lambda f: litellm_cost.chat_target(f, key, limited_key), 8 * requests)
        )
    finally:
        for family in families:
            family.stop()
    load = f"load average {os.getloadavg()[0]:.1f} at the end, Redis {redis or 'off'}"
    report = {name: {**vars(run), "per_second_per_worker": run.per_second_per_worker} for name, run in runs.items()}
    for name, result in stalls.items():
        report[name]["stalls_c16"] = vars(result)
    return [*litellm_cost.table(runs, load), *litellm_stalls.table(stalls)], report


def _relay(stack: BenchStack, key: str, rounds: int, baseline: str | None) -> tuple[list[str], dict[str, Any]]:
    """Section 1c (bench/relay.py), with REV's functions beside today's when a baseline is given."""
    relays = relay.start(stack.gateway_process(), stack.fake, str(stack.data_dir / "logs"), baseline)
    try:
        runs = asyncio.run(relay.measure(relays, stack.fake, key, relay.ROUNDS_PER_ROUND * rounds))
    finally:
        relays.stop()
    lines = relay.table(runs, relay.ROUNDS_PER_ROUND * rounds, baseline)
    return lines, {m: {n: latency.summary(v) for n, v in r.items()} for m, r in runs.items()}


def _only_relay(rounds: int, baseline: str | None) -> int:
    """Section 1c alone (a few minutes): the stack for its fake provider, key and environment."""
    print(f"# Our relay alone\n\n{os.cpu_count()} cores, commit {_commit()}\n", flush=True)
    stack = start_stack()
    try:
        lines, _ = _relay(stack, _generate_key(stack), rounds, baseline)
        print("\n".join(lines), flush=True)
        print(f"load average {os.getloadavg()[0]:.1f} at the end", flush=True)
    finally:
        stack.stop()
    return 0


def _start_upstream(stack: BenchStack, checkout: tuple[Path, Path] | None) -> upstream.UpstreamMiddleware | None:
    """The upstream project's middleware in front of the stack's LiteLLM (bench/upstream.py), when
    BENCH_UPSTREAM_MIDDLEWARE names it; one line says what runs, or that it does not."""
    if checkout is None:
        print(upstream.skipped_line() + "\n", flush=True)
        return None
    database = stack.litellm_process().environ()["DATABASE_URL"]  # the stack's Postgres
    middleware = upstream.start(*checkout, stack.litellm, database, stack.data_dir / "logs")
    described = ", ".join(f"{name} {value}" for name, value in middleware.described.items())
    print(f"Upstream middleware: {described}\n", flush=True)
    return middleware


def _built_cold_start(samples: int) -> tuple[list[str], dict[str, Any] | str]:
    built = coldstart.measure_built(samples)
    if isinstance(built, str):
        return [f"3b. Cold start of the built artifacts: not measured ({built})"], built
    lines = [
        "### 3b. Cold start of `sam build`'s output, as Lambda runs it (python3.13, read-only, tracing on; median)",
        "",
        "| function | init import ms, CoreLayer alone | as deployed (+ BytecodeLayer) | saved |",
        "|---|---|---|---|",
    ]
    for package, r in built.items():
        saved = 1 - r.as_deployed_ms / r.without_bytecode_ms
        lines.append(f"| {package} | {r.without_bytecode_ms:.0f} | {r.as_deployed_ms:.0f} | {saved:.0%} |")
    return lines, {
        p: {"without_bytecode_ms": r.without_bytecode_ms, "as_deployed_ms": r.as_deployed_ms} for p, r in built.items()
    }


def _generate_key(stack: BenchStack, **limits: float) -> str:
    key: str = httpx.post(
        f"{stack.litellm}/key/generate",
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
        json={"models": ["fake-gpt"], **limits},
    ).json()["key"]
    return key


def _only_over_litellm(rounds: int) -> int:
    """Sections 1 (serial only) and 2 alone, with as many rounds as asked: issue 17's targets over
    LiteLLM are tenths of a ms, and at the full run's 300 (150) rounds a difference of two p50s
    moves by several tenths from run to run (README, Performance)."""
    print(f"# Over LiteLLM\n\n{os.cpu_count()} cores, commit {_commit()}\n", flush=True)
    checkout = upstream.configured()
    stack = start_stack()
    middleware = relays = None
    try:
        key = _generate_key(stack)
        middleware = _start_upstream(stack, checkout)
        theirs = middleware.url if middleware else None
        # The function alone and the floors, in front of LiteLLM too: section 1d's holds of each.
        relays = relay.start(stack.gateway_process(), stack.litellm, str(stack.data_dir / "logs"))
        whole = latency.targets(stack.fake, stack.litellm, stack.gateway, key, upstream=theirs)
        whole += relay.in_front_of_litellm(relays, stack.litellm, key)
        asyncio.run(latency.check_answers(whole))
        serial, held = asyncio.run(wire.serial_with_holds(whole, rounds, stack.litellm, stack.data_dir / "wire-1.pcap"))
        lines, _ = _latency_section(f"1. Request latency, serial (c=1, {rounds} rounds, interleaved)", serial)
        lines += wire.table(WIRE_TITLE.format(rounds=rounds), held, stream=False)
        lines += asyncio.run(_first_bytes(stack, key, theirs, rounds))[0]
        print("\n".join(lines), flush=True)
        print(f"load average {os.getloadavg()[0]:.1f} at the end", flush=True)
    finally:
        for started in (middleware, relays):
            if started:
                started.stop()
        stack.stop()
    return 0


def _only_litellm_variants(rounds: int, requests: int) -> int:
    """Section 6b alone: the stack (for its database, fake provider and key), then the variants."""
    print(f"# LiteLLM config variants\n\n{os.cpu_count()} cores, commit {_commit()}\n", flush=True)
    stack = start_stack()
    try:
        lines, _ = _litellm_variants(stack, _generate_key(stack), rounds // 3, requests // 4)
        print("\n".join(lines), flush=True)
    finally:
        stack.stop()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    parser.add_argument(
        "--no-litellm-variants", action="store_true", help="skip 6b (one more LiteLLM per config variant)"
    )
    parser.add_argument(
        "--only-litellm-variants", action="store_true", help="run 6b alone (LiteLLM's config variants, A/B)"
    )
    parser.add_argument("--only-relay", action="store_true", help="run 1c alone (our relay, fake provider upstream)")
    parser.add_argument(
        "--only-over-litellm",
        action="store_true",
        help="run 1 (serial) and 2 alone: ours over LiteLLM, --rounds rounds",
    )
    parser.add_argument("--rounds", type=int, help="serial rounds (default 300; --quick 50)")
    parser.add_argument(
        "--relay-baseline", metavar="REV", help="measure 1c's functions as at git revision REV too, in the same rounds"
    )
    args = parser.parse_args()
    rounds, requests = (50, 200) if args.quick else (300, 800)
    rounds = args.rounds or rounds
    if args.only_over_litellm:
        return _only_over_litellm(rounds)
    if args.only_litellm_variants:
        return _only_litellm_variants(rounds, requests)
    if args.only_relay:
        return _only_relay(rounds, args.relay_baseline)

    print("# Gateway benchmark", flush=True)
    report: dict[str, Any] = {
        "cores": os.cpu_count(),
        "commit": _commit(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    print(f"\n{report['cores']} cores, commit {report['commit']}, {report['time']}\n", flush=True)
    checkout = upstream.configured()  # before anything starts: a wrong path fails at once

    cold = coldstart.measure(3 if args.quick else 7)
    lines = [
        "### 3. Cold start: import of each function module (fresh interpreter, median)",
        "",
        "| function | import ms | heaviest packages (cumulative ms) |",
        "|---|---|---|",
    ]
    for package, result in cold.items():
        heavy = ", ".join(f"{name} {ms:.0f}" for name, ms in result.heavy)
        lines.append(f"| {package} | {result.median_ms:.0f} | {heavy} |")
    print("\n".join(lines) + "\n", flush=True)
    report["cold_start"] = {package: {"median_ms": r.median_ms, "heavy": r.heavy} for package, r in cold.items()}
    lines, report["cold_start_built"] = _built_cold_start(3 if args.quick else 7)
    print("\n".join(lines) + "\n", flush=True)

    stack = start_stack()
    middleware = None
    try:
        key = _generate_key(stack)
        middleware = _start_upstream(stack, checkout)
        report["upstream_middleware"] = middleware.described if middleware else None
        lines, report["latency"] = asyncio.run(_requests(stack, key, rounds, requests, middleware))
        if middleware:
            middleware.stop()
            middleware = None
        print("\n".join(lines), flush=True)
        lines, report["relay"] = _relay(stack, key, rounds, args.relay_baseline)
        print("\n".join(lines), flush=True)
        if not args.no_litellm_variants:
            lines, report["litellm_variants"] = _litellm_variants(stack, key, rounds // 3, requests // 4)
            print("\n".join(lines), flush=True)

        with history.dynamodb_local() as engine_url:
            engine = (
                "DynamoDB Local 3.3.0"
                if engine_url
                else "moto (DynamoDB Local unavailable: moto's writes slow down as a partition grows)"
            )
            store = history.store_appends(engine_url or stack.dynamodb)
        turns = (
            history.gateway_turns(stack.gateway, key)
            if not args.quick
            else {mark: float("nan") for mark in history.MARKS}
        )
        lines = [
            "### 4. History: cost at turn 1, 100, 500 of one session (median ms)",
            "",
            f"| turn | turn append ({engine}) | whole gateway turn (local stack, moto) |",
            "|---|---|---|",
        ]
        lines += [f"| {mark} | {store[mark]:.2f} | {turns[mark]:.2f} |" for mark in history.MARKS]
        lines.append(f"\nappend at turn 500 / turn 1: {store[500] / store[1]:.2f}x\n")
        print("\n".join(lines), flush=True)
        report["history"] = {"engine": engine, "store_append_ms": store, "gateway_turn_ms": turns}
    finally:
        if middleware:
            middleware.stop()
        stack.stop()

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{report['time'].replace(':', '')}-{report['commit']}.json"
    path.write_text(json.dumps(report, indent=1, default=str))
    print(f"JSON: {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
