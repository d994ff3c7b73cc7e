"""The AWS SDK for JavaScript v3 Bedrock Runtime client, as applications construct it (its default
request handler, NodeHttp2Handler, speaks HTTP/2 only), with a Bedrock API key, over the local
HTTPS listener: Converse, the whole ConverseStream (through messageStop and metadata) and
InvokeModelWithResponseStream with an Anthropic body.

The SDK is pinned in tests/integration/js/package-lock.json; `make install` runs `npm ci` there.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from local.template import REPO_ROOT
from tests.integration.conftest import LocalStack

pytestmark = pytest.mark.integration
JS_CLIENTS = REPO_ROOT / "tests" / "integration" / "js"


def _delta(text: str) -> dict[str, object]:
    return {"contentBlockDelta": {"delta": {"text": text}, "contentBlockIndex": 0}}


def test_the_default_client_over_http2(stack: LocalStack, tmp_path: Path) -> None:
    if not (JS_CLIENTS / "node_modules" / "@aws-sdk" / "client-bedrock-runtime").is_dir():
        pytest.fail(f"the JavaScript SDK is not installed: run `make install` (npm ci in {JS_CLIENTS})")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),  # no ~/.aws: the API key is the only credential
        "NODE_NO_WARNINGS": "1",  # the SDK's notice about future Node versions
        "NODE_PATH": str(JS_CLIENTS / "node_modules"),
        "NODE_EXTRA_CA_CERTS": str(stack.tls_cafile),
        "AWS_BEARER_TOKEN_BEDROCK": stack.master_key,
        "GATEWAY_BEDROCK_URL": f"{stack.tls_url}/bedrock",
    }
    script = JS_CLIENTS / "bedrock_converse.js"
    done = subprocess.run(["node", str(script)], env=env, capture_output=True, text=True, timeout=120)  # noqa: S603, S607
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    words = ["The", " quick", " brown", " fox", " jumps", " over", " the", " lazy"]
    answer = json.loads(done.stdout)
    chunks = answer.pop("chunks")
    kinds = chunks["types"]
    assert (kinds[:2], kinds[-3:]) == (
        ["message_start", "content_block_start"],
        ["content_block_stop", "message_delta", "message_stop"],
    )
    assert (kinds.count("content_block_delta"), chunks["text"]) == (8, "The quick brown fox jumps over the lazy")
    assert answer == {
        "handler": "NodeHttp2Handler",
        "converse": {"text": "The quick brown fox jumps over the lazy", "stopReason": "end_turn"},
        "events": [
            {"messageStart": {"role": "assistant"}},
            *[_delta(word) for word in words],
            {"contentBlockStop": {"contentBlockIndex": 0}},
            {"messageStop": {"stopReason": "end_turn"}},
            {"metadata": {"usage": {"inputTokens": 1, "outputTokens": 8, "totalTokens": 9}, "metrics": {}}},
        ],
    }
