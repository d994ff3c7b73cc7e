"""`make dev` on a machine that cannot run LiteLLM's database layer stops at once, in one sentence;
each run's logs start empty; a start failure quotes the lines that matter.

These start no stack: the preflight refuses before anything is spawned.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from local import preflight
from local.launch import StackStartError, launch_stack
from local.processes import free_port, relevant_lines, rotate_logs, trouble_lines
from local.template import REPO_ROOT


def _closed_port_url() -> str:
    with socket.socket() as sock:  # bound, never listening: connections are refused at once
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def no_engines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """No offline tool, no engine cache, and Prisma's binary server out of reach."""
    env = {
        "LITELLM_OFFLINE_DB": str(tmp_path / "missing" / "litellm-offline-db"),
        "PRISMA_ENGINES_MIRROR": _closed_port_url(),
        "HOME": str(tmp_path / "home"),  # no ~/.cache/prisma* with engines from an earlier download
    }
    monkeypatch.delenv("PRISMA_QUERY_ENGINE_BINARY", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def _expected_sentence(env: dict[str, str]) -> str:
    return (
        f"cannot start: LiteLLM cannot get Prisma's database engines: {env['PRISMA_ENGINES_MIRROR']} is"
        f" unreachable, none are cached, and the offline tool is not at {env['LITELLM_OFFLINE_DB']};"
        " connect this machine to the internet for the first start, or set LITELLM_OFFLINE_DB to a"
        " litellm-offline-db folder."
    )


def test_the_launcher_stops_within_seconds_with_one_sentence(no_engines: dict[str, str], tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("GATEWAY_PORT", "LITELLM_PORT", "FAKE_PROVIDER_PORT", "DYNAMODB_PORT")}
    started = time.monotonic()
    with pytest.raises(StackStartError) as failure:
        launch_stack(tmp_path / "data", ports, no_engines, timeout=10)
    elapsed = time.monotonic() - started
    assert elapsed < 10, f"took {elapsed:.1f} s"
    output = (tmp_path / "data" / "stack.out").read_text()
    assert output == f"[local] {_expected_sentence(no_engines)}\n"
    assert _expected_sentence(no_engines) in str(failure.value)
    assert list((tmp_path / "data" / "logs").iterdir()) == []  # nothing was started


def test_make_dev_stops_before_installing_anything(no_engines: dict[str, str], tmp_path: Path) -> None:
    """From any directory, and before the venvs are built (a fresh clone has none)."""
    env = {**os.environ, **no_engines, "LOCAL_DATA_DIR": str(tmp_path / "data"), "VENV": str(tmp_path / "no-venv")}
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603
        ["make", "--no-print-directory", "-C", str(REPO_ROOT), "dev", f"VENV={tmp_path / 'no-venv'}"],  # noqa: S607
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert elapsed < 10, f"took {elapsed:.1f} s"
    assert result.returncode != 0
    assert result.stderr.splitlines()[0] == f"[local] {_expected_sentence(no_engines)}"
    assert result.stdout == ""
    assert not (tmp_path / "no-venv").exists()  # the install never ran
    assert not (tmp_path / "data").exists()


def test_the_offline_tool_is_chosen_when_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tool = tmp_path / "litellm-offline-db"
    tool.mkdir()
    (tool / "prepare").write_text("#!/bin/sh\n")
    monkeypatch.setenv("LITELLM_OFFLINE_DB", str(tool))
    monkeypatch.setenv("PRISMA_ENGINES_MIRROR", _closed_port_url())
    assert preflight.check() == tool


def test_a_reachable_engine_server_needs_no_offline_tool(no_engines: dict[str, str]) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        os.environ["PRISMA_ENGINES_MIRROR"] = f"http://127.0.0.1:{server.getsockname()[1]}"
        assert preflight.check() is None


def test_engines_cached_by_an_earlier_download_need_no_network(no_engines: dict[str, str]) -> None:
    cache = Path(no_engines["HOME"]) / ".cache" / "prisma-python" / "binaries" / "5.4.2" / "abc"
    cache.mkdir(parents=True)
    (cache / "prisma-query-engine-debian-openssl-3.0.x").write_bytes(b"\x7fELF")
    assert preflight.check() is None


def test_each_run_starts_with_empty_logs_and_keeps_the_previous_one(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "litellm.log").write_text("run 1\n")
    (logs / "litellm.log.1").write_text("run 0\n")
    rotate_logs(logs)
    assert sorted(p.name for p in logs.iterdir()) == ["litellm.log.1"]
    assert (logs / "litellm.log.1").read_text() == "run 1\n"


def test_a_failure_quotes_the_lines_that_name_the_problem() -> None:
    log = "\n".join(
        [
            "INFO:     Started server process [12]",
            "INFO:     Waiting for application startup.",
            "litellm_proxy_extras - WARNING - Preparing the Prisma CLI toolchain failed: getaddrinfo ENOTFOUND",
            "some routine line",
            "LiteLLM Proxy: Database migration cannot proceed.",
            "INFO:     Application shutdown complete.",
        ]
    )
    assert relevant_lines(log) == "\n".join(
        [
            "litellm_proxy_extras - WARNING - Preparing the Prisma CLI toolchain failed: getaddrinfo ENOTFOUND",
            "LiteLLM Proxy: Database migration cannot proceed.",
            "INFO:     Application shutdown complete.",
        ]
    )
    assert relevant_lines("a\nb\n") == "a\nb"
    assert relevant_lines("") == "(the log is empty)"


def test_a_failing_test_quotes_only_the_lines_that_name_a_problem() -> None:
    """tests/integration/conftest.py quotes these from the stack's logs under a failed test."""
    log = "routine\nUnhandled exception in request: KeyError  \nroutine\nKeyError: 'spend'\n"
    assert trouble_lines(log) == ["Unhandled exception in request: KeyError", "KeyError: 'spend'"]
    assert trouble_lines(log, most=1) == ["KeyError: 'spend'"]
    assert trouble_lines("routine\nfine\n") == []
