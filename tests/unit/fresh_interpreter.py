"""A probe run in a fresh interpreter with one function's sources and the core layer importable,
as Lambda's init imports them: imports and the collector's state are per process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

from local.template import REPO_ROOT


def run_probe(package: str, probe: str, env: Mapping[str, str] | None = None) -> Any:
    """What ``probe`` (Python source) prints as JSON on its last line."""
    sources = os.pathsep.join([str(REPO_ROOT / "functions" / package), str(REPO_ROOT / "layers" / "core")])
    out = subprocess.run(  # noqa: S603 (our own probe)
        [sys.executable, "-c", probe],
        env={**(env if env is not None else os.environ), "PYTHONPATH": sources},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.splitlines()[-1])
