"""A stack that does not start fails at once with the end of its log, and leaves nothing running.

``python -m local`` is replaced by a small shell script that prints a line, starts a child that
ignores Ctrl-C (as a background job does), and never becomes ready.
"""

from __future__ import annotations

import sys
from pathlib import Path

import psutil
import pytest

from local.launch import StackStartError, launch_stack
from local.processes import free_port

NEVER_READY = """#!/bin/bash
echo "litellm: could not bind its port"
sleep 300 &
echo $! > "$LOCAL_DATA_DIR/child.pid"
wait
"""


def _fake_python(tmp_path: Path, script: str) -> Path:
    path = tmp_path / "python"
    path.write_text(script)
    path.chmod(0o755)
    return path


def test_a_stack_never_ready_is_stopped_with_its_children_and_its_log_tail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "executable", str(_fake_python(tmp_path, NEVER_READY)))
    data = tmp_path / "data"
    with pytest.raises(StackStartError) as caught:
        launch_stack(data, {"GATEWAY_PORT": free_port()}, {}, timeout=1)
    message = str(caught.value)
    assert "was not ready within 1 s" in message and "litellm: could not bind its port" in message
    child = int((data / "child.pid").read_text())
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE


def test_a_stack_that_exits_fails_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", str(_fake_python(tmp_path, "#!/bin/bash\necho 'no database'\nexit 3\n")))
    with pytest.raises(StackStartError, match=r"(?s)exited with 3.*no database"):
        launch_stack(tmp_path / "data", {"GATEWAY_PORT": free_port()}, {}, timeout=300)


def test_a_start_interrupted_by_the_runner_leaves_nothing_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytest-timeout or Ctrl-C inside the wait: the stack is stopped before the error goes on."""
    from local import launch

    monkeypatch.setattr(sys, "executable", str(_fake_python(tmp_path, NEVER_READY)))
    data = tmp_path / "data"
    checks: list[str] = []

    def interrupted(url: str) -> bool:
        checks.append(url)
        if (data / "child.pid").exists():
            raise KeyboardInterrupt
        return False

    monkeypatch.setattr(launch, "_ready", interrupted)
    with pytest.raises(KeyboardInterrupt):
        launch_stack(data, {"GATEWAY_PORT": free_port()}, {}, timeout=60)
    child = int((data / "child.pid").read_text())
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE
