"""Cold start: importing each function's module in a fresh interpreter, as Lambda's init does."""

from __future__ import annotations

import statistics
import subprocess
import sys
from dataclasses import dataclass

from local.template import functions, load_template

_PROBE = """
import sys, time
started = time.perf_counter()
import {package}.app
elapsed = (time.perf_counter() - started) * 1000
print(elapsed, "litellm" in sys.modules)
"""


def _import_ms(package: str, source: str) -> tuple[float, bool]:
    env_path = [source]
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", f"import sys; sys.path[:0] = {env_path!r}\n" + _PROBE.format(package=package)],
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed, has_litellm = result.stdout.split()
    return float(elapsed), has_litellm == "True"


def _heavy_modules(package: str, source: str, top: int = 6) -> list[tuple[str, float]]:
    """Top-level packages by cumulative import time (python -X importtime)."""
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-X", "importtime", "-c", f"import sys; sys.path[:0] = [{source!r}]; import {package}.app"],
        capture_output=True,
        text=True,
        check=True,
    )
    costs: dict[str, float] = {}
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        if not cumulative.isdigit():
            continue
        root = name.split(".")[0]
        if name == root:  # a package's own entry carries its whole cost (first import only)
            costs[root] = max(costs.get(root, 0.0), int(cumulative) / 1000)
    return sorted(costs.items(), key=lambda item: -item[1])[:top]


@dataclass(frozen=True)
class ColdStart:
    median_ms: float
    heavy: list[tuple[str, float]]


def measure(samples: int = 5) -> dict[str, ColdStart]:
    results: dict[str, ColdStart] = {}
    for spec in functions(load_template()):
        runs = [_import_ms(spec.package, str(spec.source_dir)) for _ in range(samples)]
        if any(has for _, has in runs):
            raise SystemExit(f"FAIL: importing {spec.package}.app pulls in litellm; the functions must never import it")
        results[spec.package] = ColdStart(
            statistics.median(ms for ms, _ in runs), _heavy_modules(spec.package, str(spec.source_dir))
        )
    return results
