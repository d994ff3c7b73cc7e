"""Child processes of the local stack: started in their own session, logged to files, and
stopped with every descendant (LiteLLM starts engine helpers in process groups of their own)."""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

__all__ = [
    "Child",
    "free_port",
    "kill_survivors",
    "port_in_use",
    "relevant_lines",
    "rotate_logs",
    "spawn",
    "trouble_lines",
    "wait_http",
]


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def relevant_lines(self) -> str:
        try:
            return relevant_lines(self.log_path.read_text(errors="replace"))
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM the process, then whatever of its descendants outlives it, SIGKILL whatever is
        left after ``timeout``. The root goes first so it stops its own helpers in order (LiteLLM
        logs an error when its Prisma engine dies under it)."""
        try:
            root = psutil.Process(self.process.pid)
            family = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            family = []
        deadline = time.monotonic() + timeout
        for group in (family[:1], family[1:]):
            for proc in group:
                try:
                    proc.terminate()
                except psutil.NoSuchProcess:
                    pass
            psutil.wait_procs(group, timeout=max(0.1, deadline - time.monotonic()))
        kill_survivors(family, timeout=5)
        if self.process.poll() is None:
            self.process.wait(5)


def kill_survivors(family: Sequence[psutil.Process], timeout: float) -> None:
    """SIGKILL whatever of ``family`` still runs, and reap it."""
    alive = [proc for proc in family if _running(proc)]
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=timeout)


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# Lines that say what went wrong, in the logs of the stack's components (Python, uvicorn,
# Prisma, Node, Java): a start failure quotes these, not pages of routine output.
_TROUBLE = re.compile(
    r"error|exception|fatal|failed|cannot|can't|unable|denied|refused|not found|no such|address already in use",
    re.IGNORECASE,
)


def trouble_lines(log: str, most: int = 12) -> list[str]:
    """The last ``most`` lines of ``log`` that name a problem."""
    return [line.rstrip() for line in log.splitlines() if _TROUBLE.search(line)][-most:]


def relevant_lines(log: str, most: int = 12) -> str:
    """The lines of ``log`` that name a problem (the last ``most`` of them) and its last line;
    the last ``most`` lines when none does."""
    lines = [line.rstrip() for line in log.splitlines() if line.strip()]
    if not lines:
        return "(the log is empty)"
    trouble = trouble_lines(log, most)
    if not trouble:
        return "\n".join(lines[-most:])
    if lines[-1] not in trouble:
        trouble.append(lines[-1])
    return "\n".join(trouble)


def rotate_logs(log_dir: Path) -> None:
    """Start a run with empty logs: each log of the previous run is kept as ``<name>.1``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    for path in log_dir.iterdir():
        if path.is_file() and not path.name.endswith(".1"):
            path.replace(path.with_name(path.name + ".1"))


def spawn(name: str, argv: Sequence[str], env: dict[str, str], log_dir: Path, cwd: Path | None = None) -> Child:
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as log:  # the run's logs were rotated at its start (rotate_logs)
        # A session of its own: a terminal Ctrl-C reaches only the supervisor, which then stops
        # the children in order instead of racing them.
        process = subprocess.Popen(  # noqa: S603 (argv built by us)
            list(argv),
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return Child(name, process, log_path)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_http(
    url: str, deadline_s: float, alive: Callable[[], bool], cafile: Path | None = None, any_status: bool = False
) -> bool:
    """Poll ``url`` until it answers 200 (any HTTP status with ``any_status``), the deadline
    passes, or ``alive()`` turns false."""
    end = time.monotonic() + deadline_s
    context = ssl.create_default_context(cafile=str(cafile)) if cafile else None
    while time.monotonic() < end and alive():
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as response:  # noqa: S310 (local URL)
                if response.status == 200:
                    return True
        except urllib.error.HTTPError:
            if any_status:
                return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    return False
