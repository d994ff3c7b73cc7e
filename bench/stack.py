"""The local stack for a benchmark run: `python -m local` on free ports, stopped with Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil

from local.launch import StackStartError, launch_stack
from local.processes import free_port
from local.template import REPO_ROOT

MASTER_KEY = "sk-bench-master"
# The fake provider's wait before a stream's first chunk, for every stream that names no other
# (x-fake-ttft-ms): the upstream middleware (bench/upstream.py) forwards no client headers to
# LiteLLM, so its streams can have section 2's first-token delay only as the default. Measures that
# want none (section 1c) ask for 0.
FAKE_TTFT_MS = 20


@dataclass
class BenchStack:
    process: subprocess.Popen[bytes]
    gateway: str
    litellm: str
    fake: str
    dynamodb: str
    data_dir: Path

    def gateway_process(self) -> psutil.Process:
        """The process that serves the gateway's function apps (our code, not LiteLLM)."""
        port = self.gateway.rsplit(":", 1)[1]
        for child in psutil.Process(self.process.pid).children(recursive=True):
            cmdline = child.cmdline()
            if "local.gateway" in cmdline and port in cmdline:
                return child
        raise RuntimeError("gateway process not found")

    def litellm_process(self) -> psutil.Process:
        """The stack's LiteLLM proxy (uvicorn's workers are its children)."""
        port = self.litellm.rsplit(":", 1)[1]
        for child in psutil.Process(self.process.pid).children(recursive=True):
            cmdline = child.cmdline()
            if "--config" in cmdline and "--port" in cmdline and port in cmdline:
                return child
        raise RuntimeError("LiteLLM process not found")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(90)


def start_stack() -> BenchStack:
    ports = {name: free_port() for name in ("GATEWAY_PORT", "LITELLM_PORT", "FAKE_PROVIDER_PORT", "DYNAMODB_PORT")}
    data_dir = REPO_ROOT / ".local" / "bench-stack"
    # As deployed: one access-log line per request.
    env = {"LITELLM_MASTER_KEY": MASTER_KEY, "POWERTOOLS_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "INFO")}
    env["FAKE_TTFT_MS"] = str(FAKE_TTFT_MS)
    env["LOCAL_DYNAMODB"] = "moto"  # the whole-turn figures stay comparable with earlier runs (moto)
    try:
        process = launch_stack(data_dir, ports, env)
    except StackStartError as exc:
        raise SystemExit(str(exc)) from None
    return BenchStack(
        process,
        f"http://127.0.0.1:{ports['GATEWAY_PORT']}",
        f"http://127.0.0.1:{ports['LITELLM_PORT']}",
        f"http://127.0.0.1:{ports['FAKE_PROVIDER_PORT']}",
        f"http://127.0.0.1:{ports['DYNAMODB_PORT']}",
        data_dir,
    )
