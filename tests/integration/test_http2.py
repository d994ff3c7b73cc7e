"""The local HTTPS listener negotiates HTTP/2 (ALPN), as the AWS SDK for JavaScript v3's default
Bedrock Runtime client requires, and still serves HTTP/1.1; event streams work over both."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from botocore.eventstream import EventStreamBuffer

from local.template import REPO_ROOT
from tests.integration.conftest import LocalStack

pytestmark = pytest.mark.integration
BODY = {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}


@pytest.mark.parametrize(("http2", "version"), [(True, "HTTP/2"), (False, "HTTP/1.1")])
def test_converse_stream_over_https(stack: LocalStack, http2: bool, version: str) -> None:
    headers = {"Authorization": f"Bearer {stack.master_key}"}
    with httpx.Client(http2=http2, verify=str(stack.tls_cafile), timeout=30) as client:
        response = client.post(f"{stack.tls_url}/bedrock/model/fake-gpt/converse-stream", json=BODY, headers=headers)
    assert (response.http_version, response.status_code) == (version, 200)
    buffer = EventStreamBuffer()
    buffer.add_data(response.content)
    frames = [(message.headers[":event-type"], json.loads(message.payload)) for message in buffer]
    assert frames[0][0] == "messageStart" and [name for name, _ in frames[-2:]] == ["messageStop", "metadata"]
    text = "".join(body["delta"]["text"] for name, body in frames if name == "contentBlockDelta")
    assert text == "The quick brown fox jumps over the lazy"


JS_SDK = "@aws-sdk/client-bedrock-runtime@3.1164.0"
SCRIPT = REPO_ROOT / "tests" / "integration" / "js" / "bedrock_converse.js"


def _js_sdk() -> Path:
    """The SDK, installed from npm once into .local (as bench/ installs DynamoDB Local)."""
    folder = REPO_ROOT / ".local" / "js-sdk"
    if not (folder / "node_modules" / "@aws-sdk" / "client-bedrock-runtime").is_dir():
        if shutil.which("npm") is None or shutil.which("node") is None:
            pytest.fail("the JavaScript SDK test needs node and npm")
        folder.mkdir(parents=True, exist_ok=True)
        npm = ["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(folder), JS_SDK]
        subprocess.run(npm, check=True, capture_output=True, timeout=300)  # noqa: S603
    return folder / "node_modules"


def test_the_javascript_sdks_default_client_over_https(stack: LocalStack) -> None:
    env = {
        **os.environ,
        "NODE_PATH": str(_js_sdk()),
        "NODE_EXTRA_CA_CERTS": str(stack.tls_cafile),
        "AWS_BEARER_TOKEN_BEDROCK": stack.master_key,
        "GATEWAY_BEDROCK_URL": f"{stack.tls_url}/bedrock",
    }
    done = subprocess.run(["node", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)  # noqa: S603, S607
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert json.loads(done.stdout) == {
        "text": "The quick brown fox jumps over the lazy",
        "stopReason": "end_turn",
        "events": [
            "messageStart",
            *["contentBlockDelta"] * 8,
            "contentBlockStop",
            "messageStop",
            "metadata",
        ],
    }
