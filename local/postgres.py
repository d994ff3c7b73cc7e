"""Postgres for LiteLLM: DATABASE_URL when set, else an embedded server (pgserver) whose data
folder survives restarts."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

__all__ = ["start_postgres"]


def start_postgres(data_dir: Path, database: str = "litellm") -> tuple[str, Callable[[], None] | None]:
    """Return (DATABASE_URL, stop) — ``stop`` is None when the server is not ours to stop."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs' XDG_RUNTIME_DIR notice
        import pgserver

        server = pgserver.get_server(data_dir, cleanup_mode="stop")
    # pgserver listens on a Unix socket only: nothing on the network, nothing to collide with.
    return server.get_uri(database), server.cleanup
