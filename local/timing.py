"""``python -m local.timing [--runs N] [--data-dir DIR]``: start the local stack N times (as
``make dev`` does, on free ports, in its own data folder), and print each start's timeline: when
each phase was done, the CPU seconds of each part, the load average. The first run on a new data
folder is a cold start (database created and migrated), the others warm starts.

It also times LiteLLM's import alone (``import litellm.proxy.proxy_server``), the largest part of
LiteLLM's start. On a shared machine, compare CPU seconds; wall times grow with the load.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from local.launch import launch_stack
from local.processes import free_port
from local.template import REPO_ROOT
from local.timeline import family_cpu_s

__all__ = ["main"]

PORTS = ("GATEWAY_PORT", "LITELLM_PORT", "FAKE_PROVIDER_PORT", "DYNAMODB_PORT")


def _litellm_import() -> tuple[float, float]:
    """(wall, CPU) seconds of importing LiteLLM's proxy server in a fresh interpreter."""
    venv = Path(os.environ.get("LITELLM_VENV", REPO_ROOT / ".venv-litellm"))
    code = (
        "import os, time; w = time.monotonic(); import litellm.proxy.proxy_server;"
        " t = os.times(); print(time.monotonic() - w, t.user + t.system)"
    )
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    result = subprocess.run(  # noqa: S603 (argv built here)
        [str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True, env=env
    )
    wall, cpu = result.stdout.split()[-2:]
    return float(wall), float(cpu)


def _one_start(data_dir: Path) -> dict[str, object]:
    ports = {name: free_port() for name in PORTS}
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    process = launch_stack(data_dir, ports, {})
    wall = time.monotonic() - started
    try:
        tree = sum(family_cpu_s(process.pid, "stack").values())  # all but the daemonized Postgres server
        timeline = data_dir / "logs" / "start-timeline.json"
        record: dict[str, object] = json.loads(timeline.read_text()) if timeline.exists() else {}
        record["stack_process_tree_cpu_s"] = round(tree, 1)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(90)
    record["wall_to_ready_s"] = round(wall, 1)
    record["load_before"] = round(load_before, 2)
    return record


def _print(run: int, record: dict[str, object]) -> None:
    print(f"\nstart {run}: ready after {record['wall_to_ready_s']} s (wall, launcher's view)")
    print(f"  CPU seconds of the stack's process tree until ready: {record['stack_process_tree_cpu_s']}")
    if "phases_s" not in record:  # a revision that writes no timeline
        print(f"  load average before {record['load_before']}, after {os.getloadavg()[0]:.2f}")
        return
    print(f"  load average before {record['load_before']}, at ready {record['load_average']} on {record['cpus']} CPUs")
    print("  phase done at (s since start):")
    for phase, seconds in dict(record["phases_s"]).items():  # type: ignore[call-overload]
        print(f"    {seconds:7.2f}  {phase}")
    cpu = dict(record["cpu_s"])  # type: ignore[call-overload]
    print(f"  CPU seconds until ready (total {sum(cpu.values()):.1f}):")
    for part, seconds in sorted(cpu.items(), key=lambda item: -item[1]):
        print(f"    {seconds:7.2f}  {part}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT / ".local" / "timing")
    args = parser.parse_args()
    wall, cpu = _litellm_import()
    print(f"LiteLLM import alone: {wall:.1f} s wall, {cpu:.1f} s CPU (load {os.getloadavg()[0]:.2f})")
    for run in range(1, args.runs + 1):
        _print(run, _one_start(args.data_dir.resolve()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
