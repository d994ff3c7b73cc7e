"""The timeline of one start of the local stack: when each phase was done (seconds since the start)
and the CPU seconds each part used until ready, written to ``<logs>/start-timeline.json``.

Wall time alone misleads on a shared machine (it grows with the load); CPU time per part says
what a start costs, and the load average at the time says how far the wall time can be trusted.
``python -m local.timing`` starts the stack and prints this file.
"""

from __future__ import annotations

import json
import os
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

__all__ = ["Timeline", "family_cpu_s"]


def family_cpu_s(pid: int, name: str) -> dict[str, float]:
    """User + system CPU seconds of a process and its descendants (with what they waited for):
    ``{name: root's, "name > program": descendants running that program}``."""
    try:
        root = psutil.Process(pid)
        family = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return {}
    parts: dict[str, float] = {}
    for proc in family:
        try:
            times = proc.cpu_times()
            part = name if proc.pid == pid else f"{name} > {proc.name()}"
        except psutil.NoSuchProcess:
            continue
        seconds = times.user + times.system + times.children_user + times.children_system
        parts[part] = parts.get(part, 0.0) + seconds
    return parts


def _waited_children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Timeline:
    origin: float = field(default_factory=time.monotonic)
    phases: dict[str, float] = field(default_factory=dict)  # phase -> seconds since the start when done
    cpu_s: dict[str, float] = field(default_factory=dict)  # part -> CPU seconds until ready
    _waited_at_start: float = field(default_factory=_waited_children_cpu_s)

    def mark(self, phase: str) -> None:
        self.phases[phase] = round(time.monotonic() - self.origin, 2)

    def add_cpu(self, part: str, seconds: float) -> None:
        self.cpu_s[part] = round(self.cpu_s.get(part, 0.0) + seconds, 2)

    def waited_cpu_s(self) -> float:
        """CPU seconds of the child processes waited for so far (pg_ctl, prepare and theirs)."""
        return _waited_children_cpu_s() - self._waited_at_start

    def write(self, path: Path) -> None:
        own = os.times()
        self.add_cpu("supervisor (python -m local)", own.user + own.system)
        record = {
            "phases_s": self.phases,
            "cpu_s": self.cpu_s,
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "cpus": os.cpu_count(),
        }
        path.write_text(json.dumps(record, indent=2) + "\n")
