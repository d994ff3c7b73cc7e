"""Cold start: importing each function's module in a fresh interpreter, as Lambda's init does:
from the source tree (the dev venv, whose packages are compiled), and from `sam build`'s output
run as Lambda runs it (``measure_built``)."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

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


# The built artifacts' init, as Lambda runs it: the layers' own interpreter (python3.13), nothing
# written back (Lambda's /var/task and /opt are read-only), tracing on as deployed (Tracing: Active;
# LAMBDA_TASK_ROOT set), and /opt as the template's layers merged in order.
_BUILT_PROBE = """
import time
started = time.perf_counter()
import {package}.app
print((time.perf_counter() - started) * 1000)
"""


@dataclass(frozen=True)
class BuiltColdStart:
    without_bytecode_ms: float  # the CoreLayer alone: every module compiled from source
    as_deployed_ms: float  # with the BytecodeLayer over it


def _merged_layers(build_dir: Path, layers: list[str], into: Path) -> Path:
    """/opt as Lambda lays it out: each layer extracted over the ones before it."""
    for layer in layers:
        shutil.copytree(build_dir / layer, into, dirs_exist_ok=True)
    return into


def _built_import_ms(python: Path, package: str, code_dir: Path, opt: Path) -> float:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "LAMBDA_TASK_ROOT": str(code_dir),
        "AWS_REGION": "us-east-1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": os.pathsep.join([str(code_dir), str(opt / "python")]),
    }
    result = subprocess.run(  # noqa: S603 (our own probe)
        [str(python), "-c", _BUILT_PROBE.format(package=package)], env=env, capture_output=True, text=True, check=True
    )
    return float(result.stdout.split()[-1])


def measure_built(samples: int = 5) -> dict[str, BuiltColdStart] | str:
    """Each built function's init without and with the BytecodeLayer, interleaved; or why not."""
    from local.lambda_shape import build, built_functions, global_layers, python313

    try:
        build_dir, python = build(), python313()
    except RuntimeError as exc:  # no aws-sam-cli venv or python3.13 here
        return str(exc).splitlines()[0]
    layers = global_layers()
    core_alone = build_dir / layers[0]  # the CoreLayer, first in the template: no bytecode
    packages = {spec.logical_id: spec.package for spec in functions(load_template())}
    results: dict[str, BuiltColdStart] = {}
    with tempfile.TemporaryDirectory(prefix="bench-opt-") as scratch:
        opt = _merged_layers(build_dir, layers, Path(scratch))
        for built in built_functions(build_dir):
            package = packages[built.logical_id]
            without, deployed = [], []
            for _ in range(samples):
                without.append(_built_import_ms(python, package, built.code_dir, core_alone))
                deployed.append(_built_import_ms(python, package, built.code_dir, opt))
            results[package] = BuiltColdStart(statistics.median(without), statistics.median(deployed))
    return results
