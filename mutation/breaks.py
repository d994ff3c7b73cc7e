"""``make mutation-breaks``: the five breakages issue 12 names, each applied alone to a scratch copy
of the repo; the unit suite must fail on every one.

    python -m mutation.breaks            all five (the unit suite once per break, stopping at its first failure)
    python -m mutation.breaks ownership  one of them

Each break is a one-line change written by hand, as a reviewer would make it, in the code a user
relies on: an ownership check, the turn composition, a stream-path translation, the overhead header,
the prompt cache's TTL. A break whose line is no longer in the code is an error (edit it here), so the
check cannot pass by breaking nothing. Prints the first failing test of each; exits 1 if the suite
passed with any break in place.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The whole work tree but what is installed or generated (tests also read the Makefile, ecs_litellm/...).
IGNORED = shutil.ignore_patterns(".git", ".venv*", "node_modules", ".mutation*", ".aws-sam", "__pycache__", "*_cache")


@dataclass(frozen=True)
class Break:
    name: str
    path: str
    line: str
    broken: str
    what: str


BREAKS = (
    Break(
        "ownership",
        "layers/core/gateway_core/history/turns.py",
        "    if session is None or not caller.may_access(session.owner):",
        "    if session is None:",
        "a session is found whoever owns it (read, continue, delete)",
    ),
    Break(
        "turn-composition",
        "layers/core/gateway_core/history/turns.py",
        "        return (system or self.system) + self.history + others, others, system or None",
        "        return (system or self.system) + self.history + others, others[-1:], system or None",
        "only the last message of a multi-message turn is stored",
    ),
    Break(
        "stream-translation",
        "layers/core/gateway_core/converse/request.py",
        "    openai.update(extra)  # e.g. top_k, thinking, guardrails",
        "    openai.update({} if stream else extra)",
        "additionalModelRequestFields dropped on the stream path only",
    ),
    Break(
        "overhead-header",
        "layers/core/gateway_core/timing.py",
        "        return max(0.0, (_clock() - self.started - self.waited) * 1000)",
        "        return max(0.0, (_clock() - self.started) * 1000)",
        "the time spent waiting on LiteLLM counted as the gateway's overhead",
    ),
    Break(
        "prompt-cache-ttl",
        "layers/core/gateway_core/prompts.py",
        "    _cache[key] = (math.inf if ref.version else now + get_settings().prompt_draft_ttl_s, prompt)",
        "    _cache[key] = (math.inf, prompt)",
        "a prompt's draft cached for ever instead of GATEWAY_PROMPT_DRAFT_TTL_S",
    ),
)


def apply(copy: Path, change: Break) -> None:
    target = copy / change.path
    text = target.read_text()
    if text.count(change.line + "\n") != 1:
        raise SystemExit(
            f"{change.name}: the line to break is not (exactly once) in {change.path}; update mutation/breaks.py"
        )
    target.write_text(text.replace(change.line + "\n", change.broken + "\n"))


def pytest(copy: Path, *tests: str) -> subprocess.CompletedProcess[str]:
    """pytest in the copy, which shadows the repo on sys.path (PYTHONPATH comes before the venv's .pth)."""
    env = {**os.environ, "PYTHONPATH": f"{copy}{os.pathsep}{copy / 'layers' / 'core'}", "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pytest", *tests, "-x", "-q", "-p", "no:cacheprovider"]
    return subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True, check=False)  # noqa: S603


def first_failure(copy: Path, change: Break) -> str | None:
    """The unit suite's first failing test with the break in place, provided that the same test
    passes without it (a failure the copy itself caused would otherwise count as a catch)."""
    result = pytest(copy, "tests/unit")
    if result.returncode == 0:
        return None
    failed = re.search(r"^(?:FAILED|ERROR) (\S+?)(?: - |$)", result.stdout, flags=re.MULTILINE)
    if failed is None:
        raise SystemExit(f"{change.name}: pytest exited {result.returncode}:\n{result.stdout[-3000:]}")
    (copy / change.path).write_text((REPO / change.path).read_text())
    unbroken = pytest(copy, failed.group(1))
    if unbroken.returncode != 0:
        raise SystemExit(f"{change.name}: {failed.group(1)} fails without the break too:\n{unbroken.stdout[-3000:]}")
    return failed.group(1)


def main(argv: list[str] | None = None) -> int:
    names = set(argv if argv is not None else sys.argv[1:])
    unknown = names - {change.name for change in BREAKS}
    if unknown:
        raise SystemExit(f"unknown break(s): {', '.join(sorted(unknown))}")
    survived = []
    for change in BREAKS:
        if names and change.name not in names:
            continue
        with tempfile.TemporaryDirectory(prefix=f"break-{change.name}-") as scratch:
            copy = Path(scratch) / "repo"
            shutil.copytree(REPO, copy, ignore=IGNORED)
            apply(copy, change)
            failure = first_failure(copy, change)
        print(f"{change.name} ({change.what}): {'caught by ' + failure if failure else 'NOT CAUGHT'}", flush=True)
        if failure is None:
            survived.append(change.name)
    return 1 if survived else 0


if __name__ == "__main__":
    raise SystemExit(main())
