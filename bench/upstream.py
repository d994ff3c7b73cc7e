"""The upstream project's middleware in front of the bench's LiteLLM, measured beside our gateway.

Issue 17 asks that the gateway be never slower than the middleware of "Guidance for Multi-Provider
Generative AI Gateway on AWS" on any route. Nothing of that project is in this repository: the
bench runs a checkout the user names, unchanged but for one line.

* ``BENCH_UPSTREAM_MIDDLEWARE``: its ``middleware/`` folder (``app.py``, ``requirements.txt``,
  ``Dockerfile``). Unset: the comparison is skipped (one line says so).
* ``BENCH_UPSTREAM_VENV``: the Python of a venv with its requirements
  (``python3.11 -m venv X && X/bin/pip install -r requirements.txt``); default ``<folder>/.venv/bin/python``.

``app.py`` hard-codes LiteLLM at ``localhost:4000`` (the two containers share a task); a copy in a
scratch folder gets the bench LiteLLM's URL in that one constant, and starts as the Dockerfile's
CMD starts it (uvicorn, one worker, its defaults) on a free port. It wants Postgres at start-up
(it creates a ``middleware`` database): it gets the server of the stack's LiteLLM. The bench asks
for no history, so no measured request touches the database.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from local.processes import Child, free_port, spawn, wait_http

__all__ = [
    "UpstreamMiddleware",
    "UpstreamSetupError",
    "configured",
    "container_argv",
    "pointed_at",
    "psycopg2_url",
    "skipped_line",
    "start",
]

MIDDLEWARE_VARIABLE = "BENCH_UPSTREAM_MIDDLEWARE"
VENV_VARIABLE = "BENCH_UPSTREAM_VENV"

# The one line of app.py that says where LiteLLM is.
_ENDPOINT = re.compile(r'^LITELLM_ENDPOINT = "[^"\n]*"$', re.MULTILINE)

# Reported with the figures: what the numbers were measured on (their requirements are unpinned).
_PACKAGES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "h11",
    "httptools",
    "uvloop",
    "httpx",
    "aiohttp",
    "openai",
    "sqlalchemy",
    "psycopg2-binary",
)


class UpstreamSetupError(RuntimeError):
    """The checkout, its venv or the middleware's start is not what the bench can run."""


@dataclass
class UpstreamMiddleware:
    url: str
    child: Child
    scratch: tempfile.TemporaryDirectory[str]
    described: dict[str, str] = field(default_factory=dict)  # app.py's digest, the Python, package versions

    def process(self) -> psutil.Process:
        """uvicorn's one process: all of the middleware's CPU."""
        return psutil.Process(self.child.process.pid)

    def stop(self) -> None:
        self.child.stop()
        self.scratch.cleanup()


def configured(environ: Mapping[str, str] = os.environ) -> tuple[Path, Path] | None:
    """(the middleware folder, the venv's Python), or None when the comparison is not asked for."""
    folder = environ.get(MIDDLEWARE_VARIABLE, "")
    if not folder:
        return None
    directory = Path(folder).expanduser().resolve()
    missing = [name for name in ("app.py", "requirements.txt", "Dockerfile") if not (directory / name).is_file()]
    if missing:
        raise UpstreamSetupError(
            f"{MIDDLEWARE_VARIABLE}={folder}: no {', '.join(missing)} there (it names their middleware/ folder)"
        )
    # absolute(), not resolve(): a venv's python is a symlink to the base interpreter, which would
    # run without the venv's packages; and the middleware runs in a scratch folder, not here.
    python = Path(environ.get(VENV_VARIABLE) or directory / ".venv" / "bin" / "python").expanduser().absolute()
    if not python.is_file():
        raise UpstreamSetupError(
            f"no Python at {python}: create a venv with their requirements"
            f" (python3.11 -m venv X && X/bin/pip install -r {directory / 'requirements.txt'}) and set"
            f" {VENV_VARIABLE}=X/bin/python"
        )
    return directory, python


def pointed_at(source: str, litellm_url: str) -> str:
    """``app.py`` with its LiteLLM endpoint constant set to ``litellm_url``, and nothing else changed.

    Fails when the constant is not there exactly once: a rewritten app.py that still called
    localhost:4000 would measure whatever listens there, or nothing.
    """
    found = _ENDPOINT.findall(source)
    if len(found) != 1:
        raise UpstreamSetupError(
            f"app.py has {len(found)} lines like 'LITELLM_ENDPOINT = \"...\"' (expected exactly one):"
            " their middleware changed how it finds LiteLLM; the bench cannot point it at its own"
        )
    return _ENDPOINT.sub(f"LITELLM_ENDPOINT = {json.dumps(litellm_url)}", source)


def container_argv(dockerfile: str, python: str, port: int) -> list[str]:
    """The Dockerfile's CMD (exec form, ``uvicorn ...``) run by ``python -m``, on 127.0.0.1:``port``."""
    commands = [line[len("CMD") :].strip() for line in dockerfile.splitlines() if line.startswith("CMD")]
    if len(commands) != 1:
        raise UpstreamSetupError(f"the Dockerfile has {len(commands)} CMD lines (expected one)")
    try:
        words = json.loads(commands[0])
    except json.JSONDecodeError:
        words = shlex.split(commands[0])
    if not words or words[0] != "uvicorn" or "--port" not in words or words.index("--port") + 1 >= len(words):
        raise UpstreamSetupError(f"the Dockerfile's CMD is not 'uvicorn ... --port N': {commands[0]}")
    words = list(words)
    words[words.index("--port") + 1] = str(port)
    if "--host" in words:
        words[words.index("--host") + 1] = "127.0.0.1"  # the container listens on 0.0.0.0; here, loopback only
    else:
        words += ["--host", "127.0.0.1"]
    return [python, "-m", *words]


def _describe(directory: Path, python: Path) -> dict[str, str]:
    probe = (
        "import json, sys, importlib.metadata as m\n"
        "def v(p):\n"
        "    try: return m.version(p)\n"
        "    except m.PackageNotFoundError: return 'absent'\n"
        f"print(json.dumps({{'python': sys.version.split()[0], **{{p: v(p) for p in {_PACKAGES!r}}}}}))"
    )
    result = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise UpstreamSetupError(f"{python} does not run: {result.stderr.strip()[-500:]}")
    described: dict[str, str] = json.loads(result.stdout)
    app = (directory / "app.py").read_bytes()
    return {"folder": str(directory), "app.py sha256": hashlib.sha256(app).hexdigest()[:12], **described}


def psycopg2_url(database_url: str) -> str:
    """``database_url`` with the driver their requirements install (psycopg2-binary) named: their
    deployment passes ``postgresql://``, which SQLAlchemy 2.1 (what their unpinned requirements
    resolve to since its release) maps to psycopg 3, not installed, and the start fails."""
    scheme, separator, rest = database_url.partition("://")
    if not separator or scheme not in {"postgresql", "postgres", "postgresql+psycopg2"}:
        raise UpstreamSetupError(f"not a Postgres URL the middleware can use: {scheme}://...")
    return f"postgresql+psycopg2://{rest}"


def start(directory: Path, python: Path, litellm_url: str, database_url: str, logs_dir: Path) -> UpstreamMiddleware:
    """Their app.py, pointed at ``litellm_url``, under uvicorn as their image runs it; returns once its
    health route says LiteLLM is connected."""
    described = _describe(directory, python)
    scratch = tempfile.TemporaryDirectory(prefix="upstream-middleware-")
    try:
        app = pointed_at((directory / "app.py").read_text(), litellm_url)
        Path(scratch.name, "app.py").write_text(app)
        port = free_port()
        argv = container_argv((directory / "Dockerfile").read_text(), str(python), port)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", scratch.name),
            "PYTHONUNBUFFERED": "1",
            # It creates a bedrock-agent client at import (used only for prompt ARNs): a region, and no
            # credentials or instance-metadata lookups, as nothing here may reach AWS.
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "DATABASE_MIDDLEWARE_URL": psycopg2_url(database_url),
        }
        child = spawn("upstream-middleware", argv, env, logs_dir, cwd=Path(scratch.name))
    except BaseException:
        scratch.cleanup()
        raise
    middleware = UpstreamMiddleware(f"http://127.0.0.1:{port}", child, scratch, described)
    # "/" answers 200 only when it reached LiteLLM's /health/liveliness: the rewrite took effect.
    if not wait_http(f"{middleware.url}/", 120, child.alive):
        lines = child.relevant_lines()
        middleware.stop()
        raise UpstreamSetupError(f"the upstream middleware did not start ({argv[2:]}); its log:\n{lines}")
    return middleware


def skipped_line() -> str:
    return f"Upstream middleware: not measured ({MIDDLEWARE_VARIABLE} is not set; README, Performance, says how)."
