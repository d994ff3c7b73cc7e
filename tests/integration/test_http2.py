"""The local HTTPS listener negotiates HTTP/2 (ALPN), as the AWS SDK for JavaScript v3's default
Bedrock Runtime client requires, and still serves HTTP/1.1; event streams work over both."""

from __future__ import annotations

import json

import httpx
import pytest
from botocore.eventstream import EventStreamBuffer

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
