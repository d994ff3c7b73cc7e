"""What a real request leaves behind: its EMF metrics line and its log line in the gateway's log,
its X-Ray segment at the local collector, and its id in LiteLLM's spend record.

The gateway writes these when the request ends, which may be just after the client has the
answer, so each reader polls its file for the request's id (with a deadline).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.integration.conftest import LocalStack
from tests.integration.okta_issuer import OktaIssuer
from tests.integration.test_bedrock_interface import hook_client
from tests.integration.test_openai_interface import new_key

pytestmark = pytest.mark.integration
T = TypeVar("T")
PROMPT = [{"role": "user", "content": "one two three four five"}]  # 5 prompt tokens at the fake provider
REQUEST_ID = "x-gateway-request-id"


def eventually(find: Callable[[], T | None], what: str, timeout: float = 15) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = find()
        if found is not None:
            return found
        assert time.monotonic() < deadline, f"no {what} within {timeout:.0f} s"
        time.sleep(0.1)


def json_lines(path: Path) -> list[dict[str, Any]]:
    documents = []
    for line in path.read_text(errors="replace").splitlines() if path.exists() else []:
        if line.startswith("{"):
            try:
                documents.append(json.loads(line))
            except ValueError:
                continue
    return documents


def emf_line(stack: LocalStack, request_id: str) -> dict[str, Any]:
    return eventually(
        lambda: next(
            (d for d in json_lines(stack.logs / "gateway.log") if d.get("_aws") and d.get("request_id") == request_id),
            None,
        ),
        f"EMF line for {request_id}",
    )


def log_line(stack: LocalStack, request_id: str) -> dict[str, Any]:
    return eventually(
        lambda: next(
            (
                d
                for d in json_lines(stack.logs / "gateway.log")
                if d.get("message") == "request" and d.get("request_id") == request_id
            ),
            None,
        ),
        f"log line for {request_id}",
    )


def segment(stack: LocalStack, request_id: str) -> dict[str, Any]:
    """The request's segment, with the subsegments streamed on their own put back in place."""

    def find() -> dict[str, Any] | None:
        documents = json_lines(stack.logs / "xray-segments.jsonl")
        root = next((d for d in documents if d.get("annotations", {}).get("request_id") == request_id), None)
        if root is None:
            return None
        streamed = [d for d in documents if d.get("type") == "subsegment" and d.get("trace_id") == root["trace_id"]]
        root.setdefault("subsegments", []).extend(streamed)
        return root

    return eventually(find, f"X-Ray segment for {request_id}")


def names(entity: dict[str, Any]) -> list[str]:
    """Names of every subsegment below ``entity``, depth first."""
    found = []
    for child in entity.get("subsegments", []):
        found += [child["name"], *names(child)]
    return found


def metrics_of(document: dict[str, Any], dimensions: list[str]) -> set[str]:
    return {
        metric["Name"]
        for directive in document["_aws"]["CloudWatchMetrics"]
        if dimensions in directive["Dimensions"]
        for metric in directive["Metrics"]
    }


def test_chat_completion_metrics_log_and_trace(stack: LocalStack) -> None:
    raw = stack.openai().chat.completions.with_raw_response.create(
        model="fake-gpt", messages=PROMPT, extra_headers={"x-fake-latency-ms": "250", "x-fake-chunks": "6"}
    )
    answer = raw.parse()
    request_id = raw.headers[REQUEST_ID]
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (5, 6)

    emf = emf_line(stack, request_id)
    (first, second) = emf["_aws"]["CloudWatchMetrics"]
    assert first["Namespace"] == second["Namespace"] == "GenAIGateway"
    assert first["Dimensions"] == [["service"], ["service", "route"]] and second["Dimensions"] == [["model"]]
    assert (emf["service"], emf["route"], emf["model"], emf["status"]) == (
        "openai-chat",
        "/v1/chat/completions",
        "fake-gpt",
        200,
    )
    assert (emf["Requests"], emf["InputTokens"], emf["OutputTokens"], emf["CacheReadTokens"]) == ([1], [5], [6], [0])
    assert [emf[name] for name in ("ClientErrors", "ThrottledRequests", "UpstreamErrors", "GatewayErrors")] == [[0]] * 4
    latency, overhead = emf["Latency"][0], emf["Overhead"][0]
    assert latency >= 250 and overhead < 250  # the provider's 250 ms is in the latency, not in our overhead
    assert overhead == float(raw.headers["x-gateway-overhead-ms"])
    assert "TimeToFirstByte" not in emf and "TimeToFirstByte" not in metrics_of(emf, ["service"])  # not a stream
    units = {m["Name"]: m["Unit"] for d in emf["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert (units["Latency"], units["InputTokens"]) == ("Milliseconds", "Count")

    line = log_line(stack, request_id)
    assert (line["route"], line["model"], line["status"], line["litellm_status"]) == (
        "/v1/chat/completions",
        "fake-gpt",
        200,
        200,
    )
    assert line["tokens"] == {"input": 5, "output": 6, "cache_read": 0, "cache_write": 0}
    assert line["overhead_ms"] == overhead and "content" not in line  # content logging is off here

    trace = segment(stack, request_id)
    assert trace["name"] == "openai-chat" and trace["trace_id"] == line["trace_id"]
    assert trace["http"]["response"]["status"] == 200
    assert trace["annotations"] == {"route": "/v1/chat/completions", "request_id": request_id, "model": "fake-gpt"}
    (litellm,) = [s for s in trace["subsegments"] if s["name"] == "litellm"]
    assert litellm["namespace"] == "remote" and litellm["http"]["request"]["url"] == "/v1/chat/completions"
    assert litellm["http"]["response"]["status"] == 200 and litellm["end_time"] - litellm["start_time"] >= 0.25


def test_stream_ttfb_and_tokens_even_when_the_client_did_not_ask_for_usage(stack: LocalStack) -> None:
    headers = {"x-fake-ttft-ms": "300", "x-fake-chunks": "4", "x-fake-chunk-delay-ms": "50"}
    with stack.openai().chat.completions.with_streaming_response.create(
        model="fake-gpt", messages=PROMPT, stream=True, extra_headers=headers
    ) as response:
        request_id = response.headers[REQUEST_ID]
        events = [line for line in response.iter_lines() if line.startswith("data: ")]
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    assert events[-1] == "data: [DONE]"
    assert not any("usage" in chunk for chunk in chunks)  # asked for by the gateway, not shown to this caller

    emf = emf_line(stack, request_id)
    assert (emf["InputTokens"], emf["OutputTokens"]) == ([5], [4])
    ttfb, latency = emf["TimeToFirstByte"][0], emf["Latency"][0]
    assert 300 <= ttfb < latency  # the first byte waited for the provider's first token; the rest came after
    assert "TimeToFirstByte" in metrics_of(emf, ["service", "route"]) and "TimeToFirstByte" in metrics_of(
        emf, ["model"]
    )
    assert log_line(stack, request_id)["ttfb_ms"] == ttfb


def test_stream_usage_is_relayed_when_the_client_asked(stack: LocalStack) -> None:
    with stack.openai().chat.completions.with_streaming_response.create(
        model="fake-gpt",
        messages=PROMPT,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"x-fake-chunks": "3"},
    ) as response:
        request_id = response.headers[REQUEST_ID]
        events = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: {")]
    assert events[-1]["usage"]["completion_tokens"] == 3
    assert emf_line(stack, request_id)["OutputTokens"] == [3]


def test_converse_stream_metrics_and_trace(stack: LocalStack) -> None:
    client = hook_client(stack, headers={"x-fake-ttft-ms": "200", "x-fake-chunks": "5"})
    response = client.converse_stream(
        modelId="fake-gpt", messages=[{"role": "user", "content": [{"text": "one two three"}]}]
    )
    request_id = response["ResponseMetadata"]["HTTPHeaders"][REQUEST_ID]
    metadata = next(e["metadata"] for e in response["stream"] if "metadata" in e)
    assert (metadata["usage"]["inputTokens"], metadata["usage"]["outputTokens"]) == (3, 5)

    emf = emf_line(stack, request_id)
    assert (emf["service"], emf["route"], emf["model"]) == (
        "bedrock-runtime",
        "/bedrock/model/{modelId}/converse-stream",
        "fake-gpt",
    )
    assert (emf["InputTokens"], emf["OutputTokens"]) == ([3], [5])
    assert 200 <= emf["TimeToFirstByte"][0] < emf["Latency"][0]
    trace = segment(stack, request_id)
    assert trace["name"] == "bedrock-runtime" and "litellm" in names(trace)


def test_history_turn_is_counted_and_traced_to_dynamodb(stack: LocalStack) -> None:
    raw = stack.openai().chat.completions.with_raw_response.create(
        model="fake-gpt", messages=PROMPT, extra_body={"enable_history": True}
    )
    request_id = raw.headers[REQUEST_ID]
    assert raw.headers["x-history-saved"] == "true"
    emf = emf_line(stack, request_id)
    assert emf["HistoryTurnsStored"] == [1] and "HistoryStoreFailures" not in emf
    assert "HistoryTurnsStored" in metrics_of(emf, ["service"])
    traced = names(segment(stack, request_id))
    assert "litellm" in traced and traced.count("dynamodb") >= 1, traced


def test_managed_prompt_is_traced_to_get_prompt(stack: LocalStack) -> None:
    raw = stack.openai().chat.completions.with_raw_response.create(
        model="arn:aws:bedrock:us-east-1:123456789012:prompt/TEXTPROMPT",
        messages=[],
        extra_body={"promptVariables": {"topic": {"text": "fruit"}, "style": {"text": "pirate"}}},
    )
    request_id = raw.headers[REQUEST_ID]
    assert emf_line(stack, request_id)["model"] == "fake-gpt"  # the prompt's model, not its ARN
    assert "bedrock-agent" in names(segment(stack, request_id))


def test_errors_are_counted_by_class_and_unknown_models_stay_bounded(stack: LocalStack) -> None:
    bad_key = httpx.post(
        f"{stack.gateway_url}/v1/chat/completions",
        headers={"Authorization": "Bearer sk-not-a-key"},
        json={"model": "made-up-model-name-123", "messages": PROMPT},
        timeout=30,
    )
    assert bad_key.status_code == 401
    emf = emf_line(stack, bad_key.headers[REQUEST_ID])
    assert (emf["ClientErrors"], emf["UpstreamErrors"], emf["GatewayErrors"]) == ([1], [0], [0])
    assert emf["model"] == "other"  # a name LiteLLM never served is not a dimension value

    limited = new_key(stack, rpm_limit=1)
    client = stack.openai(api_key=limited)
    client.chat.completions.create(model="fake-gpt", messages=PROMPT)
    throttled = httpx.post(
        f"{stack.gateway_url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {limited}"},
        json={"model": "fake-gpt", "messages": PROMPT},
        timeout=30,
    )
    assert throttled.status_code == 429  # LiteLLM's rate limit on the key
    emf = emf_line(stack, throttled.headers[REQUEST_ID])
    assert (emf["ThrottledRequests"], emf["ClientErrors"]) == ([1], [0])

    cut = httpx.post(
        f"{stack.gateway_url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {stack.master_key}", "x-fake-fail-after-chunks": "2"},
        json={"model": "fake-gpt", "messages": PROMPT, "stream": True},
        timeout=60,
    )
    assert cut.status_code == 200 and '"error"' in cut.text
    emf = emf_line(stack, cut.headers[REQUEST_ID])
    assert (emf["UpstreamErrors"], emf["GatewayErrors"], emf["status"]) == ([1], [0], 200)


def test_litellm_spend_record_carries_the_request_id(stack: LocalStack) -> None:
    key = new_key(stack, key_alias=f"observability-{time.time_ns()}")
    raw = stack.openai(api_key=key).chat.completions.with_raw_response.create(model="fake-gpt", messages=PROMPT)
    request_id, response_id = raw.headers[REQUEST_ID], raw.parse().id
    assert raw.headers["x-litellm-call-id"] == request_id

    def spend_record() -> dict[str, Any] | None:
        found = httpx.get(
            f"{stack.litellm_url}/spend/logs",
            params={"request_id": response_id},
            headers={"Authorization": f"Bearer {stack.master_key}"},
            timeout=10,
        ).json()
        return found[0] if found else None

    record = eventually(spend_record, "LiteLLM spend record", timeout=30)
    assert record["metadata"]["litellm_call_id"] == request_id
    assert key not in (stack.logs / "gateway.log").read_text()  # keys are never logged


def test_onboarding_counts_users_created_and_jwt_rejections_by_reason(stack: LocalStack, okta: OktaIssuer) -> None:
    subject = f"metrics-{time.time_ns()}@example.com"

    def onboard(token: str) -> httpx.Response:
        return httpx.post(
            f"{stack.gateway_url}/user/new", headers={"Authorization": f"Bearer {token}"}, json={}, timeout=30
        )

    created = onboard(okta.token(subject))
    assert created.status_code == 200
    emf = emf_line(stack, created.headers[REQUEST_ID])
    assert (emf["service"], emf["route"], emf["UsersCreated"]) == ("user-keys", "/user/new", [1])
    again = onboard(okta.token(subject))  # the person exists: a new key, no new user
    assert again.status_code == 200 and "UsersCreated" not in emf_line(stack, again.headers[REQUEST_ID])

    expired = onboard(okta.token(subject, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600))
    assert expired.status_code == 401
    emf = emf_line(stack, expired.headers[REQUEST_ID])
    assert (emf["reason"], emf["JwtRejections"], emf["ClientErrors"]) == ("expired", [1], [1])
    rejection = next(d for d in emf["_aws"]["CloudWatchMetrics"] if d["Dimensions"] == [["service", "reason"]])
    assert [m["Name"] for m in rejection["Metrics"]] == ["JwtRejections"]
    assert emf_line(stack, onboard("not.a.jwt").headers[REQUEST_ID])["reason"] == "malformed"
