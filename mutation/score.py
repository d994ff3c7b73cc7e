"""Mutation scores per package, from mutmut's result files (``mutants/**/*.py.meta``).

A mutant counts as killed when a test failed (or timed out) with it in place; as survived when
the tests passed or no test reached it. Mutants listed in mutation/equivalents.md (the same
behaviour whatever the tests, with the reason) are left out of the score and counted apart.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PACKAGES", "Score", "equivalents", "scores", "write_report"]

# The five packages the issue scores, as module-name globs (mutmut's names: module.x_function__mutmut_N).
PACKAGES: dict[str, list[str]] = {
    "translation": ["gateway_core.converse.*", "gateway_core.eventstream", "bedrock_runtime.converse"],
    "history": ["gateway_core.history.*", "chat_history.routes", "openai_chat.history"],
    "identity": ["gateway_core.identity"],
    "prompts": ["gateway_core.prompts"],
    "onboarding": ["user_keys.onboarding", "user_keys.okta", "user_keys.config", "user_keys.keys"],
}
EQUIVALENTS = Path(__file__).with_name("equivalents.md")
KILLED = {1, 3, 36, -24, 24, 152, 255, -9, -11}  # a failing test, or a timeout the mutant caused
SURVIVED = {0, 5, 33}  # tests passed, or no test ran the mutated code


@dataclass
class Score:
    killed: int = 0
    survived: list[str] = field(default_factory=list)
    equivalent: int = 0
    not_run: int = 0

    @property
    def tried(self) -> int:
        return self.killed + len(self.survived)

    @property
    def percent(self) -> float:
        return 100.0 * self.killed / self.tried if self.tried else 0.0


def equivalents(path: Path = EQUIVALENTS) -> set[str]:
    """Mutant names listed in equivalents.md: lines starting with ``- `name` ``."""
    if not path.exists():
        return set()
    return set(re.findall(r"^- `([^`]+__mutmut_\d+)`", path.read_text(), flags=re.MULTILINE))


def package_of(mutant: str) -> str:
    for package, modules in PACKAGES.items():
        if any(fnmatch.fnmatchcase(mutant, f"{module}.x*") for module in modules):
            return package
    return "other"


def scores(mutants_dir: Path, *, sample: str | None = None) -> dict[str, Score]:
    known_equivalent = equivalents()
    result: dict[str, Score] = {}
    for meta in sorted(mutants_dir.rglob("*.py.meta")):
        for mutant, exit_code in json.loads(meta.read_text())["exit_code_by_key"].items():
            if sample is not None and not fnmatch.fnmatchcase(mutant, f"*{sample}"):
                continue
            score = result.setdefault(package_of(mutant), Score())
            if mutant in known_equivalent:
                score.equivalent += 1
            elif exit_code in KILLED:
                score.killed += 1
            elif exit_code in SURVIVED:
                score.survived.append(mutant)
            else:
                score.not_run += 1
    return result


def write_report(measured: dict[str, Score], path: Path) -> str:
    lines = ["| package | killed | survived | equivalent | score |", "|---|---|---|---|---|"]
    for package in [*PACKAGES, "other"]:
        s = measured.get(package)
        if s is None or not s.tried:
            continue
        lines.append(f"| {package} | {s.killed} | {len(s.survived)} | {s.equivalent} | {s.percent:.1f}% |")
    lines.append("")
    for package in PACKAGES:
        s = measured.get(package)
        if s is not None and s.survived:
            lines.append(f"surviving in {package}: " + ", ".join(sorted(s.survived)))
    text = "\n".join(lines) + "\n"
    path.write_text(text)
    return text
