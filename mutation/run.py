"""``make mutation``: mutmut over the shared layer and the functions, against the unit suite.

mutmut names a mutant after its file's path, so the code must sit where its import name says:
``gateway_core/identity.py``, not ``layers/core/gateway_core/identity.py``. This script stages
the packages flat in ``.mutation/`` (as the Lambda runtime lays them out: the layer's
``/opt/python`` and each function's code root are both on sys.path), with the tests and the
files they read, runs mutmut there at the lowest CPU priority, and scores each package.

    python -m mutation                    every mutant (the measure the README reports)
    python -m mutation --sample           the 7th mutant of every function of the scored packages (CI, make test)
    python -m mutation --only 'gateway_core.identity.*'   some mutants (mutmut's glob)
    python -m mutation --sample --tests-from main       the same, against another revision's tests


The sample fails (exit 1) when a scored package's sample score falls below mutation/threshold.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from mutation.score import PACKAGES, Score, scores, write_report

REPO = Path(__file__).resolve().parent.parent
STAGE = REPO / ".mutation"
THRESHOLDS = Path(__file__).with_name("threshold.json")
# The flat packages, where the Lambda runtime puts them: the layer's and each function's code root.
SOURCES = {
    "gateway_core": REPO / "layers" / "core" / "gateway_core",
    **{path.name: path / path.name for path in sorted((REPO / "functions").iterdir()) if (path / path.name).is_dir()},
}
# The tests themselves; what they read besides (local/, template.yaml...) they find in the repo,
# which the venv's .pth puts on sys.path after mutmut's mutants/ folder.
TESTS = "tests"
IGNORED = shutil.ignore_patterns("__pycache__")
# mutmut's run; the CI sample is the 7th mutant of every function that has as many (about one
# mutant in 40, spread over every function, deterministic; a few minutes on 2 cores).
SAMPLE = "*__mutmut_7"


def stage(stage_dir: Path, tests_from: str | None) -> None:
    """Copy what changed into ``stage_dir`` (copy2 keeps mtimes: mutmut re-mutates only changed
    files), with the tests of the work tree or of the revision ``tests_from``."""
    stage_dir.mkdir(exist_ok=True)
    for name, source in SOURCES.items():
        shutil.copytree(source, stage_dir / name, copy_function=shutil.copy2, dirs_exist_ok=True, ignore=IGNORED)
    for stale in (stage_dir / TESTS, stage_dir / "mutants" / TESTS):  # a test deleted in the repo goes here too
        shutil.rmtree(stale, ignore_errors=True)
    if tests_from is None:
        shutil.copytree(REPO / TESTS, stage_dir / TESTS, ignore=IGNORED)
    else:  # that revision's tests, with today's sys.path setup (which lets the mutated packages win)
        archive = subprocess.run(["git", "archive", tests_from, TESTS], cwd=REPO, check=True, capture_output=True)  # noqa: S603, S607
        subprocess.run(["tar", "-x", "-C", str(stage_dir)], input=archive.stdout, check=True)  # noqa: S603, S607
        shutil.copy2(REPO / TESTS / "conftest.py", stage_dir / TESTS / "conftest.py")
    shutil.copy2(REPO / "pyproject.toml", stage_dir / "pyproject.toml")
    _forget_stale_stats(stage_dir)


def _forget_stale_stats(stage_dir: Path) -> None:
    """mutmut maps tests to the functions they reach once, and later maps only *new* tests: an
    existing test extended to reach another function would never be run against its mutants (a
    false survivor). When any staged test is newer than that map, drop it so mutmut rebuilds it."""
    stats = stage_dir / "mutants" / "mutmut-stats.json"
    if stats.exists() and any(f.stat().st_mtime > stats.stat().st_mtime for f in (stage_dir / TESTS).rglob("*.py")):
        stats.unlink()


def run_mutmut(stage_dir: Path, patterns: list[str], children: int) -> int:
    mutmut = Path(sys.executable).with_name("mutmut")
    command = ["nice", "-n", "19", str(mutmut), "run", "--max-children", str(children), *patterns]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(command, cwd=stage_dir, env=env, check=False).returncode  # noqa: S603 (our own command)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", action="store_true", help="the 7th mutant of every function of the scored packages")
    parser.add_argument("--only", nargs="*", default=[], help="mutmut globs of mutant names")
    parser.add_argument("--children", type=int, default=1, help="parallel test processes (default 1)")
    parser.add_argument("--fresh", action="store_true", help="forget earlier results (.mutation/ is rebuilt)")
    parser.add_argument("--tests-from", help="a git revision whose tests to run (e.g. main: the score before)")
    args = parser.parse_args(argv)
    stage_dir = STAGE if args.tests_from is None else REPO / f".mutation-{args.tests_from}"
    if args.fresh and stage_dir.exists():
        shutil.rmtree(stage_dir)
    stage(stage_dir, args.tests_from)
    patterns = list(args.only)
    if args.sample:
        patterns = [f"{module}.{SAMPLE}" for modules in PACKAGES.values() for module in modules]
    code = run_mutmut(stage_dir, patterns, args.children)
    if code != 0:
        print(f"mutmut exited {code}", file=sys.stderr)
        return code
    measured = scores(stage_dir / "mutants", sample=SAMPLE if args.sample else None)
    report = write_report(measured, stage_dir / ("sample.md" if args.sample else "report.md"))
    print(report)
    if args.sample:
        return check_thresholds(measured)
    return 0


def check_thresholds(measured: dict[str, Score]) -> int:
    thresholds: dict[str, float] = json.loads(THRESHOLDS.read_text())
    failing = [
        f"{package}: {measured[package].percent:.1f}% < {minimum}%"
        for package, minimum in thresholds.items()
        if package in measured and measured[package].tried and measured[package].percent < minimum
    ]
    for line in failing:
        print(f"mutation sample below its threshold ({THRESHOLDS.name}): {line}", file=sys.stderr)
    return 1 if failing else 0


if __name__ == "__main__":
    raise SystemExit(main())
