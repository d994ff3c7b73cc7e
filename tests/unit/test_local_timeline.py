"""The start timeline: phases in the order they were done, CPU seconds per part with the programs
under a part named, the load, in <logs>/start-timeline.json (what `make timing` prints)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from local.timeline import Timeline, family_cpu_s


def test_the_timeline_file(tmp_path: Path) -> None:
    timeline = Timeline()
    timeline.mark("Postgres ready")
    timeline.mark("ready")
    timeline.add_cpu("litellm", 1.234)
    timeline.add_cpu("litellm", 1.0)
    timeline.write(tmp_path / "start-timeline.json")
    record = json.loads((tmp_path / "start-timeline.json").read_text())
    assert list(record) == ["phases_s", "cpu_s", "load_average", "cpus"]
    assert list(record["phases_s"]) == ["Postgres ready", "ready"]
    assert record["phases_s"]["Postgres ready"] <= record["phases_s"]["ready"]
    assert record["cpu_s"]["litellm"] == 2.23
    assert set(record["cpu_s"]) == {"litellm", "supervisor (python -m local)"}
    assert len(record["load_average"]) == 3


def test_a_family_is_split_by_program() -> None:
    """A shell (the part) running Python, which spins 0.4 CPU s, says so and waits for its stdin.
    At least 0.3 s must be counted: /proc's times are sampled per tick, and read here 0.29 s after a
    spin of 0.3 by the process's own clock."""
    busy = (
        "import sys, time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass\n"
        "print('spun', flush=True)\nsys.stdin.read()"
    )
    shell = subprocess.Popen(  # noqa: S603
        ["/bin/sh", "-c", '"$0" -c "$1"; true', sys.executable, busy],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert shell.stdout is not None and shell.stdout.readline() == "spun\n"
        parts = family_cpu_s(shell.pid, "part")
    finally:
        shell.communicate("")  # the child reads end of file and exits, then the shell
    assert set(parts) == {"part", f"part > {Path(sys.executable).name}"}
    assert parts[f"part > {Path(sys.executable).name}"] >= 0.3
    assert parts["part"] < 0.3  # the shell itself only waited
