"""The offline tool's `prepare` runs when what it prepares could have changed (LiteLLM's schema,
a migration, the tool, the database folder), not on every start; its output is reused with this
run's DATABASE_URL, and LiteLLM's PATH starts with the drift-check shim.

A stand-in `prepare` counts its runs (the real one needs Node, npm and a database: the stack's
integration tests run it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.litellm_database import litellm_database_environment

URL = "postgresql://postgres@127.0.0.1:40001/litellm"


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    venv = tmp_path / "venv"
    site = venv / "lib" / "python3.11" / "site-packages"
    (site / "litellm" / "proxy").mkdir(parents=True)
    (site / "litellm" / "proxy" / "schema.prisma").write_text("model A {}\n")
    (site / "litellm_proxy_extras" / "migrations" / "20250101_first").mkdir(parents=True)
    (site / "litellm_proxy_extras" / "migrations" / "20250101_first" / "migration.sql").write_text("CREATE TABLE a();")
    tool = tmp_path / "tool"
    tool.mkdir()
    engine = tmp_path / "cache-engine"
    engine.write_text("")
    (tool / "prepare").write_text(
        "#!/bin/sh\n"
        f'echo run >> "{tmp_path}/runs"\n'
        f'mkdir -p "{site}/prisma" && touch "{site}/prisma/client.py"\n'  # prisma generate, as the real one
        "echo \"export DATABASE_URL='$2'\"\n"
        f"echo \"export PRISMA_QUERY_ENGINE_BINARY='{engine}'\"\n"
        f"echo \"export PRISMA_SCHEMA_ENGINE_BINARY='{engine}'\"\n"
        "echo 'export DISABLE_SCHEMA_UPDATE=true'\n"
        'echo "export PATH=\'/venv/bin\':\\"\\$PATH\\""\n'
    )
    (tool / "prepare").chmod(0o755)
    data = tmp_path / "data"
    (data / "pgdata").mkdir(parents=True)
    (data / "pgdata" / "PG_VERSION").write_text("16\n")
    return venv, tool, data


def _runs(data: Path) -> int:
    runs = data.parent / "runs"
    return len(runs.read_text().splitlines()) if runs.exists() else 0


def _environment(setup: tuple[Path, Path, Path], url: str = URL, embedded: bool = True) -> dict[str, str]:
    venv, tool, data = setup
    said: list[str] = []
    return litellm_database_environment(venv, url, data, tool, embedded, said.append)


def test_a_warm_start_reuses_what_prepare_printed_with_this_runs_port(setup: tuple[Path, Path, Path]) -> None:
    venv, _, data = setup
    first = _environment(setup)
    second = _environment(setup, url="postgresql://postgres@127.0.0.1:40002/litellm")
    assert _runs(data) == 1
    assert second["DATABASE_URL"] == "postgresql://postgres@127.0.0.1:40002/litellm"
    assert {k: v for k, v in second.items() if k != "DATABASE_URL"} == {
        k: v for k, v in first.items() if k != "DATABASE_URL"
    }
    assert second["DISABLE_SCHEMA_UPDATE"] == "true"
    assert second["PATH"].split(":")[:2] == [str(data / "prisma-shim"), "/venv/bin"]
    assert second["PRISMA_SHIM_REAL"] == str(venv / "bin" / "prisma")


def test_a_new_migration_prepares_again(setup: tuple[Path, Path, Path]) -> None:
    venv, _, data = setup
    _environment(setup)
    folder = venv / "lib" / "python3.11" / "site-packages" / "litellm_proxy_extras" / "migrations" / "20250102_second"
    folder.mkdir()
    (folder / "migration.sql").write_text("ALTER TABLE a ADD b int;")
    _environment(setup)
    assert _runs(data) == 2


def test_a_changed_schema_prepares_again(setup: tuple[Path, Path, Path]) -> None:
    venv, _, data = setup
    _environment(setup)
    (venv / "lib" / "python3.11" / "site-packages" / "litellm" / "proxy" / "schema.prisma").write_text("model B {}\n")
    _environment(setup)
    assert _runs(data) == 2


def test_a_new_database_folder_prepares_again(setup: tuple[Path, Path, Path]) -> None:
    _, _, data = setup
    _environment(setup)
    (data / "pgdata" / "PG_VERSION").unlink()  # the folder deleted, initdb again
    (data / "pgdata" / "PG_VERSION").write_text("16\n")
    _environment(setup)
    assert _runs(data) == 2


def test_a_database_elsewhere_is_prepared_on_every_start(setup: tuple[Path, Path, Path]) -> None:
    _, _, data = setup
    _environment(setup, embedded=False)
    _environment(setup, embedded=False)
    assert _runs(data) == 2


def test_engines_cleaned_from_the_cache_prepare_again(setup: tuple[Path, Path, Path]) -> None:
    _, _, data = setup
    _environment(setup)
    (data.parent / "cache-engine").unlink()
    _environment(setup)
    assert _runs(data) == 2
