"""The log line (gateway_core.log_line): the text Powertools' ``LambdaPowertoolsFormatter`` writes
for the same record, whichever path the record takes, and for a real request through the app."""

from __future__ import annotations

import io
import json
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from gateway_core.log_line import LineFormatter
from gateway_core.observability import log

from tests.unit.test_request_observability import Records, _client

ACCESS = {
    "request_id": "r-1",
    "method": "POST",
    "route": "/v1/chat/completions",
    "path": "/v1/chat/completions",
    "status": 200,
    "duration_ms": 1.23,
    "overhead_ms": 0.45,
    "model": "m",
    "litellm_status": 200,
    "tokens": {"input": 3, "output": 5, "cache_read": 0, "cache_write": 0},
    "trace_id": "1-5759e988-bd862e3fe1be46a994272793",
}
CREATED = 1796065200.042  # 2026-11-30 19:00:00.042 UTC


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "UTC")
        patch.delenv("_X_AMZN_TRACE_ID", raising=False)
        time.tzset()
        yield
    time.tzset()


def _record(
    msg: Any = "request",
    extra: dict[str, Any] | None = None,
    args: tuple[Any, ...] = (),
    level: int = logging.INFO,
    created: float = CREATED,
    exc_info: Any = None,
) -> logging.LogRecord:
    record = log.makeRecord("gateway", level, "observability.py", 173, msg, args, exc_info, "__call__", extra)
    record.created, record.msecs = created, (created - int(created)) * 1000
    return record


def test_the_access_line_written_by_hand() -> None:
    line = LineFormatter(service="openai-chat").format(_record(extra=ACCESS))
    assert line == (
        '{"level":"INFO","location":"__call__:173","message":"request","timestamp":"2026-11-30 19:00:00,042+0000",'
        '"service":"openai-chat","request_id":"r-1","method":"POST","route":"/v1/chat/completions",'
        '"path":"/v1/chat/completions","status":200,"duration_ms":1.23,"overhead_ms":0.45,"model":"m",'
        '"litellm_status":200,"tokens":{"input":3,"output":5,"cache_read":0,"cache_write":0},'
        '"trace_id":"1-5759e988-bd862e3fe1be46a994272793"}'
    )


def _exception() -> Any:
    try:
        raise ValueError("boom")
    except ValueError:
        return sys.exc_info()


RECORDS = {
    "access line": lambda: _record(extra=ACCESS),
    "warning": lambda: _record("LiteLLM slow", {"after_ms": 3.5}, level=logging.WARNING),
    "none dropped, nested kept": lambda: _record(extra={"a": None, "b": {"c": None}, "d": [None]}),
    "unicode, odd values": lambda: _record("modèle \u2603", {"who": "zoë", "n": float("inf"), "o": object}),
    "a later second": lambda: _record(extra=ACCESS, created=CREATED + 1.999),
    "task name (Python 3.12+)": lambda: _with(_record(extra=ACCESS), taskName="Task-7"),
    "empty message": lambda: _record(""),
    "json object message": lambda: _record('{"a": 1}'),
    "json number message": lambda: _record("42"),
    "json after spaces": lambda: _record('  ["x"]'),
    "json null": lambda: _record("null"),
    "json NaN": lambda: _record("NaN"),
    "negative number": lambda: _record("-1"),
    "dict message": lambda: _record({"a": 1}),
    "args": lambda: _record("count %d", args=(3,)),
    "exception": lambda: _record("boom", exc_info=_exception()),
    "extra named like a late key": lambda: _record(extra={"exception": "mine", "stack_trace": "s"}),
    "extra xray_trace_id": lambda: _record(extra={"xray_trace_id": "x"}),
}


def _with(record: logging.LogRecord, **attributes: Any) -> logging.LogRecord:
    record.__dict__.update(attributes)
    return record


@pytest.mark.parametrize("make", list(RECORDS.values()), ids=list(RECORDS))
def test_the_same_line_as_powertools(make: Any) -> None:
    ours, theirs = LineFormatter(service="openai-chat"), LambdaPowertoolsFormatter(service="openai-chat")
    for _ in range(2):  # the second time from the cached second
        record = make()
        assert ours.format(record) == theirs.format(record)


def test_the_same_line_with_lambdas_trace_id_and_keys_added(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f;Sampled=1")
    ours, theirs = LineFormatter(service="s"), LambdaPowertoolsFormatter(service="s")
    record = _record(extra=ACCESS)
    assert ours.format(record) == theirs.format(record)
    assert json.loads(ours.format(record))["xray_trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
    ours.thread_safe_append_keys(tenant="t")  # context keys, shared by every formatter
    try:
        assert ours.format(record) == theirs.format(record) and '"tenant":"t"' in ours.format(record)
    finally:
        ours.thread_safe_clear_keys()
    for formatter in (ours, theirs):
        formatter.append_keys(cold_start=True, timestamp="%(created)f")
    assert ours.format(record) == theirs.format(record) and '"timestamp":"1796065200.042000"' in ours.format(record)


def test_the_times_of_one_second_and_the_next() -> None:
    formatter = LineFormatter(service="s")
    stamps = [json.loads(formatter.format(_record(created=CREATED + d)))["timestamp"] for d in (0, 0.5, 1.0, 0.25)]
    assert stamps == [
        "2026-11-30 19:00:00,042+0000",
        "2026-11-30 19:00:00,542+0000",
        "2026-11-30 19:00:01,042+0000",
        "2026-11-30 19:00:00,292+0000",
    ]


def test_a_requests_line_is_powertools_line(monkeypatch: pytest.MonkeyPatch) -> None:
    client, _ = _client(monkeypatch)
    stream, records = io.StringIO(), Records()
    handler: Any = log.handlers[0]
    assert isinstance(handler.formatter, LineFormatter)  # configure_logging's
    # The attribute, not setStream(): that flushes the handler's stream, which a runner that swapped
    # and closed sys.stdout (mutmut's) may have left closed.
    monkeypatch.setattr(handler, "stream", stream)
    log.addHandler(records)
    try:
        client.post("/v1/chat/completions", json={"model": "m", "messages": []}, headers={"Authorization": "Bearer k"})
    finally:
        log.removeHandler(records)
    (record,) = records.records
    assert stream.getvalue() == LambdaPowertoolsFormatter(service="gateway").format(record) + "\n"
