"""Per-request CloudWatch metrics as one EMF line on stdout (Powertools' EMF serializer).

Lambda ships stdout to CloudWatch Logs, which turns each Embedded Metric Format line into
metrics: no API call, nothing on the request path but one ``json.dumps``. One line per request:

    namespace POWERTOOLS_METRICS_NAMESPACE (default GenAIGateway)
    dimensions [service] and [service, route]:
        Requests, Latency, Overhead, TimeToFirstByte (streams only),
        ClientErrors, ThrottledRequests, UpstreamErrors, GatewayErrors (0 or 1 each: the
        average is the rate), and the request's counters (HistoryTurnsStored,
        HistoryStoreFailures, UsersCreated)
    dimensions [model] (and [team] when the caller's team is known), when a model was asked for:
        Requests, InputTokens, OutputTokens, CacheReadTokens, CacheWriteTokens, TimeToFirstByte,
        ThrottledRequests, UpstreamErrors
    dimensions [service, reason], when an Okta token was refused: JwtRejections

Dimensions stay bounded: ``route`` is the route template, ``model`` only a name LiteLLM served
with success in this process (so one of its configured models), at most ``MAX_MODELS`` of them,
anything else ``other``; never a key, user or request id (the request id is a plain property of
the line, for Logs Insights, not a dimension).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from gateway_core.request_record import RequestRecord

__all__ = [
    "DIMENSION_SETS",
    "MAX_MODELS",
    "METRIC_NAMES",
    "NAMESPACE",
    "Outcome",
    "ErrorClass",
    "ModelDimension",
    "classify",
    "emf_line",
    "emit",
]

NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "GenAIGateway"
MAX_MODELS = 50
OTHER = "other"

_MS = MetricUnit.Milliseconds.value
_COUNT = MetricUnit.Count.value


class ErrorClass:
    CLIENT = "ClientErrors"  # 4xx but 429: the caller's request
    THROTTLED = "ThrottledRequests"  # 429: a rate limit, LiteLLM's or API Gateway's
    UPSTREAM = "UpstreamErrors"  # LiteLLM or the provider failed (5xx from it, unreachable, cut off)
    OURS = "GatewayErrors"  # a 5xx we produced: a bug or a store we depend on
    ALL = (CLIENT, THROTTLED, UPSTREAM, OURS)


def classify(status: int, record: RequestRecord) -> str | None:
    """Which error class a finished request falls in (None: it succeeded)."""
    if status == 429:
        return ErrorClass.THROTTLED
    if 400 <= status < 500:
        return ErrorClass.CLIENT
    if status >= 500:
        from_litellm = record.upstream_status is not None and record.upstream_status >= 500
        return ErrorClass.UPSTREAM if record.upstream_failed or from_litellm else ErrorClass.OURS
    return ErrorClass.UPSTREAM if record.upstream_failed else None  # a stream that broke after its 200


class ModelDimension:
    """Model names allowed as a dimension value: those LiteLLM answered with success (so they are
    in its configuration), first come first kept, at most ``limit`` per process."""

    def __init__(self, limit: int = MAX_MODELS) -> None:
        self.limit = limit
        self.known: set[str] = set()

    def value(self, model: str, served: bool) -> str:
        if model in self.known:
            return model
        if served and len(self.known) < self.limit:
            self.known.add(model)
            return model
        return OTHER


# Everything a line can carry, for the template's alarms and dashboard to be checked against
# (tests/unit/test_monitoring.py): metric name -> the dimension sets it is published under.
_PER_SERVICE = (("service",), ("service", "route"))
_PER_MODEL = (("model",), ("team",))
DIMENSION_SETS: dict[str, tuple[tuple[str, ...], ...]] = {
    "Requests": _PER_SERVICE + _PER_MODEL,
    "Latency": _PER_SERVICE,
    "Overhead": _PER_SERVICE,
    "TimeToFirstByte": _PER_SERVICE + _PER_MODEL,
    ErrorClass.CLIENT: _PER_SERVICE,
    ErrorClass.THROTTLED: _PER_SERVICE + _PER_MODEL,
    ErrorClass.UPSTREAM: _PER_SERVICE + _PER_MODEL,
    ErrorClass.OURS: _PER_SERVICE,
    "HistoryTurnsStored": _PER_SERVICE,
    "HistoryStoreFailures": _PER_SERVICE,
    "UsersCreated": _PER_SERVICE,
    "InputTokens": _PER_MODEL,
    "OutputTokens": _PER_MODEL,
    "CacheReadTokens": _PER_MODEL,
    "CacheWriteTokens": _PER_MODEL,
    "JwtRejections": (("service", "reason"),),
}
METRIC_NAMES = frozenset(DIMENSION_SETS)

_models = ModelDimension()
_serializer = EphemeralMetrics(namespace=NAMESPACE)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a request ended, as the access middleware saw it."""

    service: str
    status: int
    latency_ms: float
    overhead_ms: float
    first_byte_ms: float | None  # streams only


def _metric(unit: str, value: float) -> dict[str, Any]:
    return {"Unit": unit, "Value": [float(value)], "StorageResolution": 60}


def _directive(metrics: dict[str, dict[str, Any]], dimension_sets: list[dict[str, str]]) -> dict[str, Any]:
    _serializer.dimension_sets[:] = dimension_sets[1:]
    try:
        document: dict[str, Any] = dict(
            _serializer.serialize_metric_set(metrics=metrics, dimensions=dimension_sets[0], metadata={})
        )
    finally:
        _serializer.dimension_sets.clear()
    return document


def emf_line(record: RequestRecord, outcome: Outcome, models: ModelDimension = _models) -> str:
    error = classify(outcome.status, record)
    errors = {name: _metric(_COUNT, 1 if name == error else 0) for name in ErrorClass.ALL}
    requests = {"Requests": _metric(_COUNT, 1)}
    first_byte = {} if outcome.first_byte_ms is None else {"TimeToFirstByte": _metric(_MS, outcome.first_byte_ms)}
    service_metrics = {
        **requests,
        "Latency": _metric(_MS, outcome.latency_ms),
        "Overhead": _metric(_MS, outcome.overhead_ms),
        **first_byte,
        **errors,
        **{name: _metric(_COUNT, value) for name, value in record.counters.items()},
    }
    service = {"service": outcome.service}
    document = _directive(service_metrics, [service, {**service, "route": record.route}])
    directives = document["_aws"]["CloudWatchMetrics"]

    if record.model is not None:
        served = record.upstream_status is not None and 200 <= record.upstream_status < 300
        model = {"model": models.value(record.model, served)}
        usage = record.usage
        tokens = (
            {}
            if usage is None
            else {
                "InputTokens": _metric(_COUNT, usage.input_tokens),
                "OutputTokens": _metric(_COUNT, usage.output_tokens),
                "CacheReadTokens": _metric(_COUNT, usage.cache_read_tokens),
                "CacheWriteTokens": _metric(_COUNT, usage.cache_write_tokens),
            }
        )
        model_metrics = {
            **requests,
            **tokens,
            **first_byte,
            ErrorClass.THROTTLED: errors[ErrorClass.THROTTLED],
            ErrorClass.UPSTREAM: errors[ErrorClass.UPSTREAM],
        }
        sets = [model, *([{"team": record.team}] if record.team else [])]
        extra = _directive(model_metrics, sets)
        directives += extra["_aws"]["CloudWatchMetrics"]
        document.update({k: v for k, v in extra.items() if k != "_aws"})

    if record.jwt_rejection is not None:
        extra = _directive({"JwtRejections": _metric(_COUNT, 1)}, [{**service, "reason": record.jwt_rejection}])
        directives += extra["_aws"]["CloudWatchMetrics"]
        document.update({k: v for k, v in extra.items() if k != "_aws"})

    document["request_id"] = record.request_id
    document["status"] = outcome.status
    return json.dumps(document, separators=(",", ":"))


_disabled = os.environ.get("POWERTOOLS_METRICS_DISABLED", "").strip().lower() in {"1", "true", "yes", "on"}


def emit(record: RequestRecord, outcome: Outcome) -> None:
    """Print the request's EMF line (flushed: a frozen Lambda must not hold it in a buffer)."""
    if _disabled:
        return
    sys.stdout.write(emf_line(record, outcome) + "\n")
    sys.stdout.flush()
