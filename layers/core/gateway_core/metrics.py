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
import time
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from gateway_core.request_record import RequestRecord
from gateway_core.settings import flag

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


_UNITS = {"Latency": _MS, "Overhead": _MS, "TimeToFirstByte": _MS}  # everything else counts


def _directives(shape: tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]) -> list[dict[str, Any]]:
    """The metric directive of one (metric names, dimension names) shape, serialized and checked
    by Powertools (names, units, dimension limits) with placeholder values."""
    names, dimension_sets = shape
    metrics = {name: {"Unit": _UNITS.get(name, _COUNT), "Value": [0.0], "StorageResolution": 60} for name in names}
    placeholder = [{dimension: "x" for dimension in dimensions} for dimensions in dimension_sets]
    _serializer.dimension_sets[:] = placeholder[1:]
    try:
        document = _serializer.serialize_metric_set(metrics=metrics, dimensions=placeholder[0], metadata={})
    finally:
        _serializer.dimension_sets.clear()
    return [dict(directive) for directive in document["_aws"]["CloudWatchMetrics"]]


_Shape = tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]
_directive_cache: dict[_Shape, list[dict[str, Any]]] = {}
_directives_json: dict[tuple[_Shape, ...], str] = {}


def _directive(names: tuple[str, ...], dimension_sets: tuple[tuple[str, ...], ...]) -> _Shape:
    """Requests of one shape share a directive (a few shapes per function): built once."""
    shape = (names, dimension_sets)
    if shape not in _directive_cache:
        _directive_cache[shape] = _directives(shape)
    return shape


def _directives_text(shapes: tuple[_Shape, ...]) -> str:
    """The ``CloudWatchMetrics`` array of a line, encoded once per combination of shapes."""
    text = _directives_json.get(shapes)
    if text is None:
        directives = [directive for shape in shapes for directive in _directive_cache[shape]]
        text = _directives_json[shapes] = json.dumps(directives, separators=(",", ":"))
    return text


def emf_line(record: RequestRecord, outcome: Outcome, models: ModelDimension = _models) -> str:
    error = classify(outcome.status, record)
    values: dict[str, Any] = {"service": outcome.service, "route": record.route}
    metrics: dict[str, float] = {"Requests": 1, "Latency": outcome.latency_ms, "Overhead": outcome.overhead_ms}
    if outcome.first_byte_ms is not None:
        metrics["TimeToFirstByte"] = outcome.first_byte_ms
    for name in ErrorClass.ALL:
        metrics[name] = 1 if name == error else 0
    metrics.update(record.counters)
    shapes = [_directive(tuple(metrics), _PER_SERVICE)]

    if record.model is not None:
        served = record.upstream_status is not None and 200 <= record.upstream_status < 300
        values["model"] = models.value(record.model, served)
        per_model = ["Requests"]
        if record.usage is not None:
            usage = record.usage
            metrics.update(
                InputTokens=usage.input_tokens,
                OutputTokens=usage.output_tokens,
                CacheReadTokens=usage.cache_read_tokens,
                CacheWriteTokens=usage.cache_write_tokens,
            )
            per_model += ["InputTokens", "OutputTokens", "CacheReadTokens", "CacheWriteTokens"]
        if outcome.first_byte_ms is not None:
            per_model.append("TimeToFirstByte")
        per_model += [ErrorClass.THROTTLED, ErrorClass.UPSTREAM]
        sets: tuple[tuple[str, ...], ...] = _PER_MODEL if record.team else _PER_MODEL[:1]
        if record.team:
            values["team"] = record.team
        shapes.append(_directive(tuple(per_model), sets))

    if record.jwt_rejection is not None:
        values["reason"] = record.jwt_rejection
        metrics["JwtRejections"] = 1
        shapes.append(_directive(("JwtRejections",), (("service", "reason"),)))

    fields: dict[str, Any] = {
        **values,
        **{name: [float(value)] for name, value in metrics.items()},
        "request_id": record.request_id,
        "status": outcome.status,
    }
    # Only the values are encoded per request; the directives' JSON is reused (same document).
    head = f'{{"_aws":{{"Timestamp":{int(time.time() * 1000)},"CloudWatchMetrics":{_directives_text(tuple(shapes))}}},'
    return head + json.dumps(fields, separators=(",", ":"))[1:]


_disabled = flag(os.environ.get("POWERTOOLS_METRICS_DISABLED"))


def emit(record: RequestRecord, outcome: Outcome) -> None:
    """Print the request's EMF line (flushed: a frozen Lambda must not hold it in a buffer)."""
    if _disabled:
        return
    sys.stdout.write(emf_line(record, outcome) + "\n")
    sys.stdout.flush()
