"""`make smoke` against the local stack, so the smoke test of a deployed stack stays true.

The > 29 s stream runs only with SMOKE_LONG_STREAM=1 (it costs ~31 s of CI time and proves
nothing locally that the bedrock interface tests do not: the local gateway never cuts at 29 s;
it matters against a deployed stack, `make smoke ... LONG_STREAM=1`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest

from local.template import REPO_ROOT
from tests.integration.conftest import LocalStack

pytestmark = pytest.mark.integration
PROMPT_ARN = "arn:aws:bedrock:us-east-1:123456789012:prompt/TEXTPROMPT"  # served by the fake provider


def app_key(stack: LocalStack) -> str:
    """A virtual key as an application developer holds one (not the master key)."""
    response = httpx.post(
        f"{stack.litellm_url}/key/generate", headers={"Authorization": f"Bearer {stack.master_key}"}, json={}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["key"])


def run_smoke(stack: LocalStack, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GATEWAY_URL": stack.gateway_url, "GATEWAY_KEY": app_key(stack), **settings}
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "smoke"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_smoke_passes_against_the_local_stack(stack: LocalStack) -> None:
    long = os.environ.get("SMOKE_LONG_STREAM") == "1"
    result = run_smoke(
        stack,
        PROMPT_ARN=PROMPT_ARN,
        PROMPT_VARIABLES=json.dumps({"topic": {"text": "fruit"}, "style": {"text": "pirate"}}),
        LONG_STREAM="1" if long else "",
    )
    print(result.stdout)  # the table, for `pytest -s`
    assert result.returncode == 0, result.stdout + result.stderr
    rows = result.stdout.splitlines()[1:-1]
    assert len(rows) == 10, result.stdout
    assert sum("  PASS  " in row for row in rows) == (10 if long else 9), result.stdout
    assert result.stdout.splitlines()[-1] == "10/10 passed or skipped"


def test_smoke_fails_loudly_with_a_bad_key(stack: LocalStack) -> None:
    result = run_smoke(stack, GATEWAY_KEY="sk-not-a-key")
    assert result.returncode == 1, result.stdout
    assert "FAILED: OpenAI chat, OpenAI chat stream, Converse, ConverseStream" in result.stdout
