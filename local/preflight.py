"""What `make dev` checks before it installs or starts anything, so a machine that cannot run the
stack hears why within seconds, in one sentence (standard library only: it runs before the venvs
exist, with the system's python3).

LiteLLM keeps keys, users and budgets in Postgres through Prisma, whose native engines are
downloaded from Prisma's binary server on first use. Where that server cannot be reached, the
offline tool (``../shared/litellm-offline-db``, or ``LITELLM_OFFLINE_DB``) stands in for them.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import urllib.parse
from pathlib import Path

__all__ = ["PreflightError", "check", "offline_tool"]

REPO_ROOT = Path(__file__).resolve().parent.parent
PRISMA_BINARIES = "https://binaries.prisma.sh"  # Prisma's default; PRISMA_ENGINES_MIRROR overrides it
# Where Prisma (through prisma-client-py) keeps engines it downloaded before, under the home folder.
_ENGINE_CACHES = (".cache/prisma-python", ".cache/prisma")


class PreflightError(RuntimeError):
    """The stack cannot start here; the message says what is missing and what to do."""


def offline_tool() -> Path:
    """Where the offline tool is looked for (it may not exist)."""
    default = REPO_ROOT.parent / "shared" / "litellm-offline-db"
    return Path(os.environ.get("LITELLM_OFFLINE_DB") or default).resolve()


def _engines_cached() -> bool:
    configured = os.environ.get("PRISMA_QUERY_ENGINE_BINARY")
    if configured:
        return Path(configured).is_file()
    return any(
        any(cache.rglob("*query-engine*")) or any(cache.rglob("libquery_engine*"))
        for cache in (Path.home() / folder for folder in _ENGINE_CACHES)
        if cache.is_dir()
    )


def _reachable(url: str, timeout: float) -> bool:
    parsed = urllib.parse.urlsplit(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "", port), timeout=timeout):
            return True
    except OSError:  # no DNS, no route, refused, timed out
        return False


def check(timeout: float = 3.0) -> Path | None:
    """Return the offline tool to use (None: Prisma fetches or already has its engines), or raise
    PreflightError with the one sentence to show."""
    tool = offline_tool()
    if (tool / "prepare").is_file():
        missing = [name for name in ("node", "npm", "psql") if shutil.which(name) is None]
        if missing:
            raise PreflightError(
                f"{' and '.join(missing)} not found on PATH, and the offline Prisma tool ({tool}) needs them:"
                " install Node.js >= 18 with npm (Debian: nodejs npm) and psql (Debian: postgresql-client)."
            )
        return tool
    mirror = os.environ.get("PRISMA_ENGINES_MIRROR") or PRISMA_BINARIES
    if _engines_cached() or _reachable(mirror, timeout):
        return None
    raise PreflightError(
        f"LiteLLM cannot get Prisma's database engines: {mirror} is unreachable, none are cached, and the"
        f" offline tool is not at {tool}; connect this machine to the internet for the first start,"
        " or set LITELLM_OFFLINE_DB to a litellm-offline-db folder."
    )


def main() -> int:
    try:
        check()
    except PreflightError as exc:
        print(f"[local] cannot start: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
