"""Start `python -m local` as a child (tests, bench) and wait until its banner says ready."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import psutil

from local.processes import kill_survivors
from local.template import REPO_ROOT

__all__ = ["StackStartError", "launch_stack"]

# Variables of the developer's shell that would point the child stack at other services.
_INHERITED_OVERRIDES = ("AWS_ENDPOINT_URL_DYNAMODB", "DATABASE_URL", "GATEWAY_TLS_PORT", "OKTA_ISSUER")


class StackStartError(RuntimeError):
    """The stack exited or did not get ready in time (and was stopped); the message ends with its log."""


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a stack that did not start, and everything it started: Ctrl-C first (its own
    teardown), then kill whatever is left of the family, so a failed start leaves nothing running."""
    try:
        family = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    kill_survivors(family, timeout=10)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except OSError:
        return False


def launch_stack(
    data_dir: Path, ports: Mapping[str, int], env: Mapping[str, str], timeout: float | None = None
) -> subprocess.Popen[bytes]:
    """Start the stack on ``ports`` ({GATEWAY_PORT: …}) with ``env`` on top of a clean copy of
    this process's environment; return once /health answers and the "ready in" banner is out
    (it comes after every listener, HTTPS included, answers)."""
    if timeout is None:  # the stack's own wait for LiteLLM, plus the rest of the start
        timeout = float(env.get("LOCAL_STARTUP_TIMEOUT_S", os.environ.get("LOCAL_STARTUP_TIMEOUT_S", "240"))) + 60
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    child_env = {k: v for k, v in os.environ.items() if k not in _INHERITED_OVERRIDES}
    child_env.update({k: str(v) for k, v in ports.items()}, LOCAL_DATA_DIR=str(data_dir), **env)
    log_path = data_dir / "stack.out"
    if log_path.exists():
        log_path.replace(data_dir / "stack.out.1")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "local"], env=child_env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT
        )  # noqa: S603
    health = f"http://127.0.0.1:{ports['GATEWAY_PORT']}/health"
    deadline = time.monotonic() + timeout
    try:
        while not (_ready(health) and "] ready in " in log_path.read_text(errors="replace")):
            exited = process.poll() is not None
            if exited or time.monotonic() > deadline:
                why = f"exited with {process.returncode}" if exited else f"was not ready within {timeout:.0f} s"
                raise StackStartError(f"the local stack {why}; the end of its log:\n{log_path.read_text()[-4000:]}")
            time.sleep(0.5)
    except BaseException:  # ours, a test runner's timeout, Ctrl-C: nothing may be left running
        _stop(process)
        raise
    return process
