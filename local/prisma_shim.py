"""``prisma`` for LiteLLM where the offline tool stands in for Prisma's engines (it has no schema
engine).

With ``DISABLE_SCHEMA_UPDATE=true`` (the offline tool's setting) LiteLLM checks for schema drift
on every start with ``prisma migrate diff --from-url DB --to-schema-datamodel ./schema.prisma
--script``. That needs Prisma's schema engine, so offline it always failed, logging "Failed to
generate migration diff" on every start while saying nothing about the database. This answers
that one command with the check that can be made offline: LiteLLM's schema is the SQL migrations
of the installed ``litellm-proxy-extras``, so each of them must be recorded as finished in the
database's ``_prisma_migrations`` ledger (where the offline tool's ``prepare`` records them). A
missing one is printed as the SQL that closes the gap, in ``migrate diff --script``'s shape, so
LiteLLM reports it as drift ("prisma schema out of sync") as it would with the schema engine;
an unreachable database fails the command, as ``migrate diff`` would. Every other command goes
to the real ``prisma`` (``PRISMA_SHIM_REAL``).

It runs with the LiteLLM venv's Python (psycopg is there; nothing of this repository is
importable there): ``local/stack.py`` writes a ``prisma`` script that starts it, first on
LiteLLM's PATH.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["main", "missing_migrations"]

EMPTY = "-- This is an empty migration."  # what `prisma migrate diff --script` prints for no change
# libpq's own URL parameters; LiteLLM adds Prisma's (connection_limit, pool_timeout...) to the URL.
_LIBPQ_PARAMETERS = {"sslmode", "sslrootcert", "sslcert", "sslkey", "options", "connect_timeout", "application_name"}


def libpq_url(prisma_url: str) -> tuple[str, str]:
    """(a URL libpq accepts, the schema) for a Prisma-dialect Postgres URL."""
    parts = urlsplit(prisma_url)
    query = parse_qsl(parts.query)
    schema = next((value for name, value in query if name == "schema"), "public")
    kept = urlencode([(name, value) for name, value in query if name in _LIBPQ_PARAMETERS])
    return urlunsplit(parts._replace(query=kept)), schema


def migrations_dir() -> Path:
    configured = os.environ.get("PRISMA_SHIM_MIGRATIONS_DIR")
    if configured:
        return Path(configured)
    spec = importlib.util.find_spec("litellm_proxy_extras")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("prisma (local shim): litellm-proxy-extras is not installed in this venv")
    return Path(spec.submodule_search_locations[0]) / "migrations"


def missing_migrations(prisma_url: str, folder: Path) -> list[Path]:
    """The migration folders of ``folder`` that the database has not recorded as finished."""
    import psycopg  # type: ignore[import-not-found, unused-ignore]  # the LiteLLM venv has it
    from psycopg import sql  # type: ignore[import-not-found, unused-ignore]

    url, schema = libpq_url(prisma_url)
    with psycopg.connect(url, connect_timeout=10) as conn:
        ledger = sql.Identifier(schema, "_prisma_migrations")
        exists = conn.execute("SELECT to_regclass(%s)", (f'"{schema}"."_prisma_migrations"',)).fetchone()
        applied: set[str] = set()
        if exists is not None and exists[0] is not None:
            query = sql.SQL(
                "SELECT migration_name FROM {} WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL"
            ).format(ledger)
            applied = {row[0] for row in conn.execute(query)}
    return [m for m in sorted(folder.iterdir()) if (m / "migration.sql").is_file() and m.name not in applied]


def _diff(arguments: list[str]) -> int:
    url = arguments[arguments.index("--from-url") + 1]
    missing = missing_migrations(url, migrations_dir())
    if not missing:
        print(EMPTY)
        return 0
    for migration in missing:
        print(f"-- migration {migration.name} is not applied")
        print((migration / "migration.sql").read_text().strip())
    return 0


def main(arguments: list[str]) -> int:
    if arguments[:2] == ["migrate", "diff"] and "--from-url" in arguments:
        return _diff(arguments)
    real = os.environ["PRISMA_SHIM_REAL"]
    os.execv(real, [real, *arguments])  # noqa: S606 (the venv's own prisma)
    return 127  # not reached


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
