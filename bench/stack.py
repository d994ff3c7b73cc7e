"""The local stack for a benchmark run: `python -m local` on free ports, stopped with Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil

from local.processes import free_port
from local.template import REPO_ROOT

MASTER_KEY = "sk-bench-master"


@dataclass
class BenchStack:
    process: subprocess.Popen[bytes]
    gateway: str
    litellm: str
    fake: str
    dynamodb: str
    log: Path

    def gateway_process(self) -> psutil.Process:
        """The process that serves the gateway's function apps (our code, not LiteLLM)."""
        port = self.gateway.rsplit(":", 1)[1]
        for child in psutil.Process(self.process.pid).children(recursive=True):
            cmdline = child.cmdline()
            if "local.gateway" in cmdline and port in cmdline:
                return child
        raise RuntimeError("gateway process not found")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(90)


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except OSError:
        return False


def start_stack() -> BenchStack:
    ports = {name: free_port() for name in ("GATEWAY_PORT", "LITELLM_PORT", "FAKE_PROVIDER_PORT", "MOTO_PORT")}
    data_dir = REPO_ROOT / ".local" / "bench-stack"
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **{k: str(v) for k, v in ports.items()}, "LOCAL_DATA_DIR": str(data_dir), "LITELLM_MASTER_KEY": MASTER_KEY}
    for name in ("AWS_ENDPOINT_URL_DYNAMODB", "DATABASE_URL", "GATEWAY_TLS_PORT", "OKTA_ISSUER"):
        env.pop(name, None)
    env["POWERTOOLS_LOG_LEVEL"] = os.environ.get("BENCH_LOG_LEVEL", "INFO")  # as deployed: one access line per request
    log = data_dir / "stack.out"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "local"], env=env, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    gateway = f"http://127.0.0.1:{ports['GATEWAY_PORT']}"
    deadline = time.monotonic() + 300
    while not (_up(f"{gateway}/health") and "] ready in " in log.read_text(errors="replace")):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"the local stack did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    return BenchStack(
        process,
        gateway,
        f"http://127.0.0.1:{ports['LITELLM_PORT']}",
        f"http://127.0.0.1:{ports['FAKE_PROVIDER_PORT']}",
        f"http://127.0.0.1:{ports['MOTO_PORT']}",
        log,
    )
