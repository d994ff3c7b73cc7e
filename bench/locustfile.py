"""Load-test a deployed gateway (or `make dev`) with the fake provider as the model.

The seed's load test put a fake LLM server behind LiteLLM; ours is `python -m fake_provider`.
Run it where LiteLLM can reach it (a Fargate task, an EC2 host) and add it to
ecs_litellm/config.yaml as the `fake-gpt` model (commented example there). Then:

    GATEWAY_URL=https://<api>.execute-api.<region>.amazonaws.com/api GATEWAY_API_KEY=sk-... \\
        locust -f bench/locustfile.py --headless -u 100 -r 10 -t 10m

Users mix OpenAI chat (JSON and SSE) and Bedrock Converse / ConverseStream. FAKE_LATENCY_MS and
FAKE_TTFT_MS (sent as x-fake-* headers, which LiteLLM forwards for the fake model) make the
model as slow as a real one. Besides latency, the report shows each route's
`x-gateway-overhead-ms` as a separate "overhead" entry, so the gateway's own share is visible.
"""

from __future__ import annotations

import json
import os
from typing import Any

from locust import FastHttpUser, between, events, task

GATEWAY = os.environ.get("GATEWAY_URL", "http://127.0.0.1:8080").rstrip("/")
API_KEY = os.environ.get("GATEWAY_API_KEY", "sk-local-master")
MODEL = os.environ.get("GATEWAY_MODEL", "fake-gpt")
KNOBS = {
    "x-fake-latency-ms": os.environ.get("FAKE_LATENCY_MS", "0"),
    "x-fake-ttft-ms": os.environ.get("FAKE_TTFT_MS", "0"),
}
PROMPT = "Summarise the benefits of a serverless gateway in two sentences."


class GatewayUser(FastHttpUser):
    host = GATEWAY
    wait_time = between(0.5, 2)

    def _post(self, name: str, path: str, body: dict[str, Any]) -> None:
        headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json", **KNOBS}
        with self.client.post(path, data=json.dumps(body), headers=headers, name=name, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {(response.text or '')[:200]}")
                return
            overhead = response.headers.get("x-gateway-overhead-ms")
            if overhead is not None:
                events.request.fire(
                    request_type="overhead",
                    name=name,
                    response_time=float(overhead),
                    response_length=0,
                    exception=None,
                    context={},
                )

    @task(4)
    def openai_chat(self) -> None:
        self._post(
            "openai chat", "/v1/chat/completions", {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}]}
        )

    @task(3)
    def openai_stream(self) -> None:
        body = {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": PROMPT}]}
        self._post("openai stream", "/v1/chat/completions", body)

    @task(2)
    def converse(self) -> None:
        self._post(
            "bedrock converse",
            f"/bedrock/model/{MODEL}/converse",
            {"messages": [{"role": "user", "content": [{"text": PROMPT}]}]},
        )

    @task(1)
    def converse_stream(self) -> None:
        self._post(
            "bedrock converse-stream",
            f"/bedrock/model/{MODEL}/converse-stream",
            {"messages": [{"role": "user", "content": [{"text": PROMPT}]}]},
        )
