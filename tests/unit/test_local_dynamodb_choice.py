"""Which DynamoDB `make dev` gives the history, and the banner's one line about it: DynamoDB Local
with its tables in the data folder, moto in memory when asked for or when Java cannot run it.

The stack's start of a child is recorded, not run (the real DynamoDB Local runs in
tests/integration/test_dynamodb_local_store.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from local import dynamodb_local
from local.processes import Child
from local.stack import Ports, Stack, _start_dynamodb


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Stack, list[tuple[str, list[str], Path]]]:
    started: list[tuple[str, list[str], Path]] = []
    stack = Stack(tmp_path / "data", Ports(gateway=1, litellm=2, fake=3, dynamodb=5050), "sk")

    def record(name: str, argv: list[str], env: dict[str, str], cwd: Path = Path("/")) -> Child:
        started.append((name, argv, cwd))
        return Child(name, None, tmp_path / f"{name}.log")  # type: ignore[arg-type]

    monkeypatch.setattr(stack, "start", record)
    for name in ("AWS_ENDPOINT_URL_DYNAMODB", "LOCAL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    return stack, started


def test_dynamodb_local_keeps_the_tables_in_the_data_folder(
    stack: tuple[Stack, list[tuple[str, list[str], Path]]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    local, started = stack
    monkeypatch.setattr(dynamodb_local, "command", lambda port, db: ["java", str(port), str(db)])
    _start_dynamodb(local, {})
    folder = tmp_path / "data" / "dynamodb"
    assert started == [("dynamodb", ["java", "5050", str(folder)], folder)]
    assert local.dynamodb_url == "http://127.0.0.1:5050"
    assert local.dynamodb_note == (
        f"DynamoDB Local, 127.0.0.1 only; chat history kept in {folder}/ across restarts:"
        " stop the stack and delete that folder to wipe it"
    )


def test_without_java_the_banner_says_history_is_in_memory_and_why(
    stack: tuple[Stack, list[tuple[str, list[str], Path]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    local, started = stack
    monkeypatch.setattr("shutil.which", lambda name: None)
    _start_dynamodb(local, {})
    assert [(name, argv[1:]) for name, argv, _ in started] == [
        ("moto", ["-m", "moto.server", "-H", "127.0.0.1", "-p", "5050"])
    ]
    assert started[0][1][0] == sys.executable
    assert local.dynamodb_note == (
        "moto, in memory: chat history starts empty on each run; DynamoDB Local cannot run here:"
        " java is not on PATH (DynamoDB Local needs Java 17; Debian: openjdk-17-jdk-headless)"
    )


def test_a_jre_without_javac_cannot_build_the_loopback_launcher(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None if name == "javac" else f"/usr/bin/{name}")
    with pytest.raises(dynamodb_local.Unavailable) as refused:
        dynamodb_local.launcher_classes(tmp_path / "DynamoDBLocal.jar", tmp_path)
    assert str(refused.value) == (
        "javac is not on PATH: DynamoDB Local is bound to 127.0.0.1 by a launcher compiled once"
        " with a JDK (Debian: openjdk-17-jdk-headless)"
    )


def test_moto_when_asked_for(
    stack: tuple[Stack, list[tuple[str, list[str], Path]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    local, started = stack
    monkeypatch.setenv("LOCAL_DYNAMODB", "moto")
    monkeypatch.setattr(dynamodb_local, "command", lambda port, db: pytest.fail("DynamoDB Local started"))
    _start_dynamodb(local, {})
    assert [name for name, _, _ in started] == ["moto"]
    assert local.dynamodb_note == "moto, in memory: chat history starts empty on each run (LOCAL_DYNAMODB=moto)"


def test_the_shells_endpoint_starts_nothing(
    stack: tuple[Stack, list[tuple[str, list[str], Path]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    local, started = stack
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000")
    assert _start_dynamodb(local, {}) is None
    assert started == []
    assert (local.dynamodb_url, local.dynamodb_note) == ("http://127.0.0.1:8000", "AWS_ENDPOINT_URL_DYNAMODB")
