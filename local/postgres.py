"""Postgres for LiteLLM: DATABASE_URL when set, else an embedded server (pgserver's binaries)
whose data folder survives restarts.

The embedded server listens on 127.0.0.1 on a free port: LiteLLM rewrites DATABASE_URL (it
appends its pool parameters) and loses the ``host=`` of a Unix-socket URL on the way, so only a
TCP URL reaches this server whichever Prisma engine LiteLLM runs.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

from local.processes import free_port

__all__ = ["start_postgres"]


def _tcp_server_class() -> type:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs' XDG_RUNTIME_DIR notice
        import pgserver
        from pgserver import pg_ctl  # type: ignore[attr-defined]  # generated per binary at import
        from pgserver.utils import PostmasterInfo, find_suitable_socket_dir

    class TcpPostgresServer(pgserver.PostgresServer):  # type: ignore[misc]
        """pgserver (initdb, the run-as user for root, the stop at exit) with a TCP listener."""

        def ensure_postgres_running(self) -> None:
            info = PostmasterInfo.read_from_pgdata(self.pgdata)
            if info is not None and info.is_running():
                if info.hostname == "127.0.0.1" and info.port and info.status == "ready":
                    self._postmaster_info = info  # a server left by a run that was killed: reuse it
                    return
                pg_ctl(["-w", "stop"], pgdata=self.pgdata, user=self.system_user)  # socket-only: restart
            socket_dir = find_suitable_socket_dir(self.pgdata, self.runtime_path)
            if self.system_user is not None and socket_dir != self.pgdata:
                socket_dir.chmod(0o777)
            arguments = ["-w", "-o", f"-h 127.0.0.1 -p {free_port()}", "-o", f"-k {socket_dir}", "-l", str(self.log)]
            pg_ctl([*arguments, "start"], pgdata=self.pgdata, user=self.system_user, timeout=30)
            self._postmaster_info = PostmasterInfo.read_from_pgdata(self.pgdata)

    return TcpPostgresServer


def start_postgres(data_dir: Path, database: str = "litellm") -> tuple[str, Callable[[], None] | None]:
    """Return (DATABASE_URL, stop) — ``stop`` is None when the server is not ours to stop."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url, None
    data_dir.mkdir(parents=True, exist_ok=True)
    server = _tcp_server_class()(data_dir, cleanup_mode="stop")
    info = server.get_postmaster_info()
    return f"postgresql://postgres@127.0.0.1:{info.port}/{database}", server.cleanup
