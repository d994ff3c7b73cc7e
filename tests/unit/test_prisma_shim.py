"""The offline drift check LiteLLM runs at start (`prisma migrate diff ... --script`), answered by
local/prisma_shim.py: empty when every migration is recorded as finished, the missing migrations'
SQL otherwise, a failure when the database cannot be reached.

Runs the shim as LiteLLM does, with the LiteLLM venv's Python, against a throwaway database on
the machine's Postgres (127.0.0.1:5432, trust); skipped without that venv (it needs psycopg).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.processes import free_port
from local.template import REPO_ROOT

LITELLM_PYTHON = REPO_ROOT / ".venv-litellm" / "bin" / "python"
SHIM = REPO_ROOT / "local" / "prisma_shim.py"
SERVER = "postgresql://postgres@127.0.0.1:5432"

pytestmark = pytest.mark.skipif(not LITELLM_PYTHON.exists(), reason="no .venv-litellm (make install)")


def _psql(database: str, statement: str) -> None:
    subprocess.run(["psql", f"{SERVER}/{database}", "-qAtc", statement], check=True, capture_output=True)  # noqa: S603, S607


@pytest.fixture
def database() -> Iterator[str]:
    name = f"shim_{uuid.uuid4().hex[:12]}"
    _psql("postgres", f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        _psql("postgres", f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    for name, body in (
        ("20250101_first", "CREATE TABLE a (x int);\n"),
        ("20250102_second", "ALTER TABLE a ADD y int;\n"),
    ):
        (tmp_path / name).mkdir()
        (tmp_path / name / "migration.sql").write_text(body)
    (tmp_path / "migration_lock.toml").write_text('provider = "postgresql"\n')  # not a migration
    return tmp_path


def _diff(url: str, migrations: Path) -> subprocess.CompletedProcess[str]:
    argv = [str(LITELLM_PYTHON), str(SHIM), "migrate", "diff", "--from-url", url]
    argv += ["--to-schema-datamodel", "./schema.prisma", "--script"]
    env = {**os.environ, "PRISMA_SHIM_MIGRATIONS_DIR": str(migrations)}
    return subprocess.run(argv, capture_output=True, text=True, env=env, check=False, timeout=60)  # noqa: S603


def _ledger(database: str, *finished: str) -> None:
    _psql(
        database,
        'CREATE TABLE "_prisma_migrations" (id text, checksum text, finished_at timestamptz,'
        " migration_name text, logs text, rolled_back_at timestamptz, started_at timestamptz DEFAULT now(),"
        " applied_steps_count int DEFAULT 0)",
    )
    for name in finished:
        _psql(database, f"INSERT INTO \"_prisma_migrations\" VALUES ('{name}', 'c', now(), '{name}', NULL, NULL)")  # noqa: S608


def test_every_migration_finished_is_an_empty_diff(database: str, migrations: Path) -> None:
    _ledger(database, "20250101_first", "20250102_second")
    # LiteLLM's URL carries Prisma's pool parameters, which libpq refuses
    result = _diff(f"{SERVER}/{database}?connection_limit=10&pool_timeout=60", migrations)
    assert (result.returncode, result.stdout, result.stderr) == (0, "-- This is an empty migration.\n", "")


def test_a_missing_migration_is_printed_as_the_sql_that_closes_the_gap(database: str, migrations: Path) -> None:
    _ledger(database, "20250101_first")
    _psql(database, "INSERT INTO \"_prisma_migrations\" VALUES ('x', 'c', NULL, '20250102_second', 'failed', NULL)")
    result = _diff(f"{SERVER}/{database}", migrations)
    assert (result.returncode, result.stdout) == (
        0,
        "-- migration 20250102_second is not applied\nALTER TABLE a ADD y int;\n",
    )


def test_a_database_never_migrated_misses_every_migration(database: str, migrations: Path) -> None:
    result = _diff(f"{SERVER}/{database}", migrations)
    assert result.stdout == (
        "-- migration 20250101_first is not applied\nCREATE TABLE a (x int);\n"
        "-- migration 20250102_second is not applied\nALTER TABLE a ADD y int;\n"
    )


def test_an_unreachable_database_fails_the_command(migrations: Path) -> None:
    result = _diff(f"postgresql://postgres@127.0.0.1:{free_port()}/litellm", migrations)
    assert result.returncode == 1
    assert "connection" in result.stderr and "refused" in result.stderr


def test_other_commands_go_to_the_real_prisma(tmp_path: Path) -> None:
    real = tmp_path / "prisma"
    real.write_text('#!/bin/sh\necho "real prisma: $*"\n')
    real.chmod(0o755)
    env = {**os.environ, "PRISMA_SHIM_REAL": str(real)}
    argv = [str(LITELLM_PYTHON), str(SHIM), "generate", "--schema", "schema.prisma"]
    result = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)  # noqa: S603
    assert result.stdout == "real prisma: generate --schema schema.prisma\n"
