"""The README's snippets run as written against the local stack, so the README cannot rot.

Every ```python and ```bash block of README.md says whether it runs (``run``) or not
(``no-run``: `make` targets, `sam deploy`). Each ``run`` block is run as a reader would run it:
from a directory outside the repository, with the repository's venv first on PATH, against the
test stack. The only edits are the ones the README tells the reader to make: the test stack's
ports for `make dev`'s 8080 and 8443, the `AWS_CA_BUNDLE` the banner prints, and the data folder
of the test stack for `python -m local.okta` (its Okta issuer is the tests' own).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from local.template import REPO_ROOT
from tests.integration.conftest import STACK_DATA_DIR, LocalStack

pytestmark = pytest.mark.integration

README = REPO_ROOT / "README.md"
FENCE = re.compile(r"^```(python|bash)([^\n]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
FOX = "The quick brown fox jumps over the lazy"  # the fake provider's answer (8 chunks, a word each)
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@dataclass(frozen=True)
class Snippet:
    language: str
    line: int
    code: str


def runnable_snippets() -> list[Snippet]:
    text = README.read_text()
    snippets = []
    for match in FENCE.finditer(text):
        marker = match.group(2).strip()
        assert marker in {"run", "no-run"}, (
            f"README line {text.count(chr(10), 0, match.start()) + 1}: mark it run/no-run"
        )
        if marker == "run":
            snippets.append(Snippet(match.group(1), text.count("\n", 0, match.start()) + 1, match.group(3)))
    return snippets


def _messages_of(answer: str) -> list[str]:
    return [m["content"] for m in json.loads(answer)["messages"]]


# What each snippet prints, in README order: hand-written, so a snippet that breaks, or prints
# something else than the README promises (a trailing None, an error body), fails here.
def _check_openai(out: str) -> None:
    assert out == f"{FOX}\n{FOX}\n"  # the answer, then the stream's pieces and a newline


def _check_key(out: str) -> None:
    answer = json.loads(out)
    assert (answer["models"], answer["rpm_limit"], answer["max_budget"]) == (["fake-gpt"], 60, 5.0)
    assert answer["key"].startswith("sk-")


def _check_bedrock_hook(out: str) -> None:
    lines = out.splitlines()
    assert lines[0] == FOX
    assert lines[1] == "{'messageStart': {'role': 'assistant'}}"
    assert "{'messageStop': {'stopReason': 'end_turn'}}" in lines
    assert lines[-1].startswith("{'metadata': {'usage': {")


def _check_bedrock_bearer(out: str) -> None:
    assert out == f"{FOX}\n"


def _check_history(out: str) -> None:
    assert re.fullmatch(f"OpenAI session {UUID}\nBedrock session {UUID}\n", out), out


def _check_history_curl(out: str) -> None:
    decoder = json.JSONDecoder()
    answers, position = [], 0
    while position < len(out):
        answer, position = decoder.raw_decode(out, position)
        answers.append(answer)
    openai_page, bedrock_page, listing, deleted = answers
    session_id = openai_page["session_id"]
    assert openai_page["messages"] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": FOX},
    ]
    assert bedrock_page["messages"] == [
        {"role": "user", "content": [{"text": "hi"}]},
        {"role": "assistant", "content": [{"text": FOX}]},
    ]
    assert session_id in listing["session_ids"]
    assert deleted == {"session_id": session_id, "deleted": True, "messages_deleted": 2}


def _check_prompts(out: str) -> None:
    assert out == f"{FOX}\n{FOX}\n{FOX}\n"  # chat completions, Converse, InvokeModel


def _check_okta(out: str) -> None:
    first, second = out.split("\n", 1)
    created = json.loads(first)
    assert created["user_id"] == "alice" and created["key"].startswith("sk-")
    if not created.get("existing_user"):  # the first run of the test stack's database; later runs get a new key
        assert (created["user_email"], created["user_role"]) == ("alice@example.com", "internal_user")
    more = json.loads(second)
    assert more["user_id"] == "alice"
    assert more["key"].startswith("sk-") and more["key"] != created["key"]


CHECKS = [
    _check_openai,
    _check_key,
    _check_bedrock_hook,
    _check_bedrock_bearer,
    _check_history,
    _check_history_curl,
    _check_prompts,
    _check_okta,
]


def test_every_python_and_bash_block_is_marked_and_checked() -> None:
    assert len(runnable_snippets()) == len(CHECKS)


@pytest.mark.parametrize("index", range(len(CHECKS)), ids=[check.__name__.removeprefix("_check_") for check in CHECKS])
def test_readme_snippet_runs_as_written(stack: LocalStack, tmp_path: Path, index: int) -> None:
    snippet = runnable_snippets()[index]
    code = snippet.code.replace("http://127.0.0.1:8080", stack.gateway_url).replace(
        "https://127.0.0.1:8443", stack.tls_url
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OPENAI_", "OKTA_"))}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",  # the venv, activated
        AWS_CA_BUNDLE=str(stack.tls_cafile),  # the line the banner prints for the HTTPS listener
        LOCAL_DATA_DIR=str(STACK_DATA_DIR),
    )
    argv = ["python", "-c", code] if snippet.language == "python" else ["bash", "-euo", "pipefail", "-c", code]
    result = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
    assert result.returncode == 0, f"README line {snippet.line}:\n{result.stdout}\n{result.stderr}"
    assert result.stderr == "", f"README line {snippet.line}: {result.stderr}"
    CHECKS[index](result.stdout)
