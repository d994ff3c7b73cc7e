"""LiteLLM's database environment when the offline tool (litellm-offline-db) stands in for
Prisma's engines: its ``prepare`` once per change, and a ``prisma`` that can check drift offline.

``prepare`` (npm packages, engine wrappers, ``prisma generate``, migrations, an engine smoke test)
takes seconds even when there is nothing to do. It runs again only when something it prepares
could have changed: LiteLLM's schema, litellm-proxy-extras' migrations, the generated client, the
tool's own files, or the database folder (a new ``pgdata`` is a new database). Its output is kept
in ``<cache>/prepared.json`` with that fingerprint; a database outside the data folder
(``DATABASE_URL``) is prepared on every start, as we cannot tell whether it changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from local.processes import relevant_lines

__all__ = ["litellm_database_environment"]

SHIM = Path(__file__).resolve().parent / "prisma_shim.py"
_TOOL_FILES = ("prepare", "apply_migrations.py", "query-engine.mjs", "schema-engine", "package-lock.json")


def _site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python3*/site-packages"))
    return found[-1] if found else venv


def fingerprint(venv: Path, tool: Path, pgdata: Path, database_url: str) -> str:
    """What prepare's result depends on, hashed (the server's port, chosen per run, left out)."""
    site = _site_packages(venv)
    digest = hashlib.sha256()
    parts = [
        site / "litellm" / "proxy" / "schema.prisma",
        site / "prisma" / "schema.prisma",  # the generated client's copy
        *(tool / name for name in _TOOL_FILES),
    ]
    for path in parts:
        digest.update(str(path).encode())
        digest.update(path.read_bytes() if path.is_file() else b"<missing>")
    client = site / "prisma" / "client.py"
    digest.update(str(client.stat().st_mtime_ns if client.is_file() else 0).encode())
    migrations = site / "litellm_proxy_extras" / "migrations"
    for migration in sorted(migrations.glob("*/migration.sql")):
        digest.update(migration.parent.name.encode())
        digest.update(migration.read_bytes())
    version = pgdata / "PG_VERSION"  # written by initdb: a new inode is a new database cluster
    stat = version.stat() if version.is_file() else None
    digest.update(f"{stat.st_ino}:{stat.st_mtime_ns}".encode() if stat else b"<no pgdata>")
    digest.update(urlsplit(database_url).path.encode())  # the database name
    return digest.hexdigest()


def _parse_exports(stdout: str) -> dict[str, str]:
    env = {}
    for line in stdout.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        parsed = shlex.split(value)[0] if value else ""
        env[name] = parsed.replace("$PATH", os.environ.get("PATH", ""))
    return env


def _prepare(tool: Path, venv: Path, database_url: str, cache_dir: Path) -> str:
    result = subprocess.run(  # noqa: S603
        [str(tool / "prepare"), str(venv), database_url, str(cache_dir)],
        capture_output=True,
        text=True,
        start_new_session=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"litellm-offline-db prepare failed:\n{relevant_lines(result.stderr)}")
    return result.stdout


def _shim(data_dir: Path, venv: Path, real_path: str) -> dict[str, str]:
    """A ``prisma`` first on LiteLLM's PATH that answers the drift check offline (prisma_shim.py)."""
    folder = data_dir / "prisma-shim"
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "prisma"
    python = venv / "bin" / "python"
    script.write_text(f'#!/bin/sh\nexec {shlex.quote(str(python))} {shlex.quote(str(SHIM))} "$@"\n')
    script.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{real_path}", "PRISMA_SHIM_REAL": str(venv / "bin" / "prisma")}


def litellm_database_environment(
    venv: Path, database_url: str, data_dir: Path, tool: Path, embedded: bool, announce: Callable[[str], None]
) -> dict[str, str]:
    """The environment LiteLLM needs with the offline tool; ``announce`` says whether prepare runs."""
    cache_dir = data_dir / "prisma-cache"
    record = cache_dir / "prepared.json"
    key = fingerprint(venv, tool, data_dir / "pgdata", database_url) if embedded else ""
    stdout = ""
    if key and record.is_file():
        kept = json.loads(record.read_text())
        if kept.get("fingerprint") == key:
            stdout = kept["stdout"]
    ran = not stdout
    if ran:
        announce("preparing the LiteLLM database (Prisma engine shim, migrations)")
        stdout = _prepare(tool, venv, database_url, cache_dir)
        if key:  # taken again: prepare itself changes what it depends on (it generates the client)
            key = fingerprint(venv, tool, data_dir / "pgdata", database_url)
            cache_dir.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps({"fingerprint": key, "stdout": stdout}))
    env = _parse_exports(stdout)
    engines = [env.get("PRISMA_QUERY_ENGINE_BINARY", ""), env.get("PRISMA_SCHEMA_ENGINE_BINARY", "")]
    if not ran and not all(path and Path(path).is_file() for path in engines):  # the cache was cleaned
        record.unlink()
        return litellm_database_environment(venv, database_url, data_dir, tool, embedded, announce)
    env["DATABASE_URL"] = database_url  # this run's port
    env.update(_shim(data_dir, venv, env.get("PATH", os.environ.get("PATH", ""))))
    if not ran:
        announce("LiteLLM database: nothing changed since it was prepared (schema, migrations, engines)")
    return env
