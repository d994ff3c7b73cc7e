"""Claude Code in Bedrock mode runs once, non-interactively (-p), through the gateway.

What Claude Code needs from the gateway in Bedrock mode: ANTHROPIC_BEDROCK_BASE_URL (the
gateway's /bedrock), a Bedrock API key (AWS_BEARER_TOKEN_BEDROCK, sent as a bearer token) and a
model id the key may use. It answers through InvokeModelWithResponseStream with an Anthropic body.

Two settings are for the fake model, not for the gateway: Claude Code asks for extended thinking
by default (``thinking: {type: enabled}``), which a Claude model on Bedrock serves and the fake
OpenAI-style model does not (LiteLLM sends a streamed thinking request for an OpenAI-provider
model to the provider's /v1/responses, which the fake provider lacks: a 404 that Claude Code
reports as "an issue with the selected model"), so MAX_THINKING_TOKENS=0; and every model tier is
the fake model, else Claude Code probes its built-in ``us.anthropic.*`` ids first.

Claude Code is pinned in tests/integration/claude_code/package-lock.json; `make test` runs
`npm ci` there.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from local.template import REPO_ROOT
from tests.integration.conftest import LocalStack
from tests.integration.test_observability import eventually, json_lines

pytestmark = pytest.mark.integration
CLAUDE = REPO_ROOT / "tests" / "integration" / "claude_code" / "node_modules" / ".bin" / "claude"
MODEL = "fake-gpt"


def _requests(log: Path, since: int) -> list[tuple[str, str, int]] | None:
    """The gateway's access lines after line ``since`` (None until there is one: the line is
    written once the answer has gone, so it can trail the client's exit)."""
    records = [record for record in json_lines(log)[since:] if record.get("message") == "request"]
    return [(record["method"], record["path"], record["status"]) for record in records] or None


def test_claude_code_in_bedrock_mode(stack: LocalStack, tmp_path: Path) -> None:
    if not CLAUDE.exists():
        pytest.fail("Claude Code is not installed: run `make test` (npm ci in tests/integration/claude_code)")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),  # no user settings and no credentials but the key below
        "CLAUDE_CODE_USE_BEDROCK": "1",
        "ANTHROPIC_BEDROCK_BASE_URL": f"{stack.gateway_url}/bedrock",
        "AWS_BEARER_TOKEN_BEDROCK": stack.master_key,
        "AWS_REGION": "us-east-1",
        "ANTHROPIC_MODEL": MODEL,
        "ANTHROPIC_SMALL_FAST_MODEL": MODEL,
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": MODEL,
        "ANTHROPIC_DEFAULT_SONNET_MODEL": MODEL,
        "ANTHROPIC_DEFAULT_OPUS_MODEL": MODEL,
        "MAX_THINKING_TOKENS": "0",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    log = stack.logs / "gateway.log"
    before = len(json_lines(log))
    command = [str(CLAUDE), "-p", "Say hello", "--tools", "", "--output-format", "json"]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180)  # noqa: S603
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(done.stdout)
    outcome = {key: result[key] for key in ("subtype", "is_error", "result", "stop_reason", "num_turns")}
    assert outcome == {
        "subtype": "success",
        "is_error": False,
        "result": "The quick brown fox jumps over the lazy",
        "stop_reason": "end_turn",
        "num_turns": 1,
    }
    assert result["modelUsage"][MODEL]["outputTokens"] == 8
    # One model call, on the route Claude Code uses in Bedrock mode.
    stream_route = f"/bedrock/model/{MODEL}/invoke-with-response-stream"
    assert eventually(lambda: _requests(log, before), "the gateway's access line") == [("POST", stream_route, 200)]
