"""Claude Code in Bedrock mode (CLAUDE_CODE_USE_BEDROCK, ANTHROPIC_BEDROCK_BASE_URL, a Bedrock API
key) runs once, non-interactively, through the gateway's InvokeModel stream to the fake model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from local.template import REPO_ROOT
from tests.integration.conftest import LocalStack

pytestmark = pytest.mark.integration
CLAUDE_CODE = "@anthropic-ai/claude-code@2.1.332"


def _claude() -> Path:
    """Claude Code, installed from npm once into .local (as bench/ installs DynamoDB Local)."""
    folder = REPO_ROOT / ".local" / "claude-code"
    binary = folder / "node_modules" / ".bin" / "claude"
    if not binary.exists():
        if shutil.which("npm") is None or shutil.which("node") is None:
            pytest.fail("the Claude Code test needs node and npm")
        folder.mkdir(parents=True, exist_ok=True)
        npm = ["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(folder), CLAUDE_CODE]
        subprocess.run(npm, check=True, capture_output=True, timeout=600)  # noqa: S603
    return binary


def test_claude_code_in_bedrock_mode(stack: LocalStack, tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),  # no user settings, no credentials but these
        "CLAUDE_CODE_USE_BEDROCK": "1",
        "ANTHROPIC_BEDROCK_BASE_URL": f"{stack.gateway_url}/bedrock",
        "AWS_BEARER_TOKEN_BEDROCK": stack.master_key,
        "AWS_REGION": "us-east-1",
        "ANTHROPIC_MODEL": "fake-gpt",
        "ANTHROPIC_SMALL_FAST_MODEL": "fake-gpt",
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": "fake-gpt",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    command = [str(_claude()), "-p", "Say hello", "--tools", "", "--output-format", "json"]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180)  # noqa: S603
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert (result["subtype"], result["is_error"]) == ("success", False), result
    assert result["result"] == "The quick brown fox jumps over the lazy"
