"""The EMF line of a request, its error classes, the bounded model dimension, and token usage read
from relayed bodies and streams (gateway_core.metrics, request_record, stream_usage)."""

from __future__ import annotations

import json

import pytest
from gateway_core.metrics import ModelDimension, Outcome, classify, emf_line
from gateway_core.request_record import RequestRecord, Usage, current_record, usage_from_json_tail
from gateway_core.stream_usage import SseUsage, is_usage_only, must_ask_for_usage, with_stream_usage


def test_emf_line_of_a_streamed_chat() -> None:
    record = RequestRecord("req-1", route="/v1/chat/completions", model="m1", team="t1", upstream_status=200)
    record.usage = Usage(10, 20, 3, 0)
    record.counters["HistoryTurnsStored"] = 1
    line = json.loads(emf_line(record, Outcome("openai-chat", 200, 812.5, 0.4, 95.25), ModelDimension()))
    service, model = line["_aws"]["CloudWatchMetrics"]
    assert service["Namespace"] == model["Namespace"] == "GenAIGateway"
    assert service["Dimensions"] == [["service"], ["service", "route"]]
    assert model["Dimensions"] == [["model"], ["team"]]
    assert [m["Name"] for m in service["Metrics"]] == [
        "Requests",
        "Latency",
        "Overhead",
        "TimeToFirstByte",
        "ClientErrors",
        "ThrottledRequests",
        "UpstreamErrors",
        "GatewayErrors",
        "HistoryTurnsStored",
    ]
    assert [m["Name"] for m in model["Metrics"]] == [
        "Requests",
        "InputTokens",
        "OutputTokens",
        "CacheReadTokens",
        "CacheWriteTokens",
        "TimeToFirstByte",
        "ThrottledRequests",
        "UpstreamErrors",
    ]
    assert {m["Unit"] for m in service["Metrics"] if m["Name"] in ("Latency", "Overhead", "TimeToFirstByte")} == {
        "Milliseconds"
    }
    values = {k: v for k, v in line.items() if k != "_aws"}
    assert values == {
        "service": "openai-chat",
        "route": "/v1/chat/completions",
        "model": "m1",
        "team": "t1",
        "request_id": "req-1",
        "status": 200,
        "Requests": [1.0],
        "Latency": [812.5],
        "Overhead": [0.4],
        "TimeToFirstByte": [95.25],
        "ClientErrors": [0.0],
        "ThrottledRequests": [0.0],
        "UpstreamErrors": [0.0],
        "GatewayErrors": [0.0],
        "HistoryTurnsStored": [1.0],
        "InputTokens": [10.0],
        "OutputTokens": [20.0],
        "CacheReadTokens": [3.0],
        "CacheWriteTokens": [0.0],
    }


def test_emf_line_without_model_or_with_a_jwt_rejection() -> None:
    record = RequestRecord("req-2", route="/user/new", jwt_rejection="expired")
    line = json.loads(emf_line(record, Outcome("user-keys", 401, 3.0, 2.5, None), ModelDimension()))
    service, rejection = line["_aws"]["CloudWatchMetrics"]
    assert rejection["Dimensions"] == [["service", "reason"]]
    assert [m["Name"] for m in rejection["Metrics"]] == ["JwtRejections"]
    assert (line["reason"], line["JwtRejections"], line["ClientErrors"]) == ("expired", [1.0], [1.0])
    assert "model" not in line and "TimeToFirstByte" not in line


@pytest.mark.parametrize(
    ("status", "upstream_status", "upstream_failed", "expected"),
    [
        (200, 200, False, None),
        (200, 200, True, "UpstreamErrors"),  # a stream cut after its 200
        (400, None, False, "ClientErrors"),
        (401, 401, False, "ClientErrors"),
        (429, 429, False, "ThrottledRequests"),
        (503, 503, False, "UpstreamErrors"),  # LiteLLM's (or the provider's) own 5xx
        (502, None, True, "UpstreamErrors"),  # LiteLLM unreachable
        (500, None, False, "GatewayErrors"),  # a bug of ours
        (503, 200, False, "GatewayErrors"),  # LiteLLM answered; a store of ours failed
    ],
)
def test_error_classes(status: int, upstream_status: int | None, upstream_failed: bool, expected: str | None) -> None:
    record = RequestRecord("r", upstream_status=upstream_status, upstream_failed=upstream_failed)
    assert classify(status, record) == expected


def test_model_dimension_admits_only_served_models_up_to_its_limit() -> None:
    models = ModelDimension(limit=2)
    assert models.value("typo-model", served=False) == "other"
    assert models.value("a", served=True) == "a"
    assert models.value("a", served=False) == "a"  # known: its failures keep its name
    assert models.value("b", served=True) == "b"
    assert models.value("c", served=True) == "other"  # over the limit
    assert models.known == {"a", "b"}


def test_usage_from_openai_objects() -> None:
    assert Usage.from_openai(
        {"prompt_tokens": 7, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 4}}
    ) == Usage(7, 2, 4, 0)
    assert Usage.from_openai(
        {"prompt_tokens": 7, "completion_tokens": 2, "cache_read_input_tokens": 5, "cache_creation_input_tokens": 6}
    ) == Usage(7, 2, 5, 6)
    assert Usage.from_openai({"prompt_tokens": True, "completion_tokens": -3}) == Usage(0, 0, 0, 0)
    assert Usage.from_openai(None) is None


def test_usage_is_read_from_the_tail_without_decoding_the_rest() -> None:
    body = (
        b'{"choices":[{"message":{"content":"say \\"usage\\": no"}}],"usage":{"prompt_tokens":3,"completion_tokens":9}}'
    )
    assert usage_from_json_tail(body) == {"prompt_tokens": 3, "completion_tokens": 9}
    stream = b'data: {"usage": {"prompt_tokens": 1}}\n\ndata: {"choices":[],"usage":null}\n\ndata: [DONE]\n\n'
    assert usage_from_json_tail(stream) == {"prompt_tokens": 1}  # the last usage that is an object
    assert usage_from_json_tail(b'{"usage": "none", "x": 1}') is None


CHUNK = b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
FINISH = b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
USAGE = b'data: {"choices":[{"index":0,"delta":{}}],"usage":{"prompt_tokens":4,"completion_tokens":2}}\n\n'
DONE = b"data: [DONE]\n\n"


def _relay(watch: SseUsage, chunks: list[bytes]) -> tuple[bytes, RequestRecord]:
    record = RequestRecord("r")
    token = current_record.set(record)
    try:
        out = b"".join(watch.relay(c) for c in chunks) + watch.finish()
    finally:
        current_record.reset(token)
    return out, record


@pytest.mark.parametrize("cut", [1, 17, 60, 101])
def test_stripping_drops_only_the_usage_event_however_the_stream_is_chunked(cut: int) -> None:
    stream = CHUNK + FINISH + USAGE + DONE
    at = len(CHUNK + FINISH) + cut  # split inside the usage event (and, for 1, right after its start)
    out, record = _relay(SseUsage(strip=True), [stream[:at], stream[at : at + 30], stream[at + 30 :]])
    assert out == CHUNK + FINISH + DONE
    assert record.usage == Usage(4, 2, 0, 0)


def test_without_stripping_the_stream_is_untouched_and_its_usage_read_at_the_end() -> None:
    chunks = [CHUNK, FINISH + USAGE[:20], USAGE[20:] + DONE]
    out, record = _relay(SseUsage(strip=False), chunks)
    assert out == b"".join(chunks)
    assert record.usage == Usage(4, 2, 0, 0) and not record.upstream_failed


def test_an_in_band_error_marks_the_stream_failed() -> None:
    _, record = _relay(SseUsage(strip=True), [CHUNK, b'data: {"error": {"message": "boom"}}\n\n'])
    assert record.upstream_failed and record.usage is None


def test_which_requests_get_the_usage_chunk_added() -> None:
    assert must_ask_for_usage({"stream": True})
    assert must_ask_for_usage({"stream": True, "stream_options": {"include_usage": False}})
    assert not must_ask_for_usage({"stream": True, "stream_options": {"include_usage": True}})
    assert not must_ask_for_usage({"stream": False})
    assert not must_ask_for_usage({"stream": True, "stream_options": "bad"})  # LiteLLM refuses it as it is
    assert is_usage_only(json.loads(USAGE[6:])) and not is_usage_only(json.loads(FINISH[6:]))
    two_choices = {"choices": [{"index": 0, "delta": {}}, {"index": 1, "delta": {"content": "x"}}], "usage": {}}
    assert not is_usage_only(two_choices)  # one choice still carries content


def test_splicing_the_usage_option_keeps_the_callers_bytes() -> None:
    raw = b'  {"model": "m",  "stream": true, "x": [1]}'
    spliced = with_stream_usage(raw, json.loads(raw))
    assert spliced == b'  {"stream_options":{"include_usage":true},"model": "m",  "stream": true, "x": [1]}'
    assert with_stream_usage(b'{"stream_options": {}}', {"stream_options": {}}) is None  # re-encoded instead
