"""The dashboard and alarms of template.yaml watch metrics that exist: ours (the functions' EMF
lines, gateway_core.metrics) or AWS's, each under dimensions it is really published with."""

from __future__ import annotations

import json
import re
from typing import Any

from gateway_core.metrics import DIMENSION_SETS, NAMESPACE

from local.cfn import translate_template as translate
from tests.unit.test_infrastructure import resources

# What AWS publishes, from each service's CloudWatch metrics documentation: metric -> the
# dimension sets used here. A name or dimension missing from this table fails the test.
_API = {frozenset({"ApiName", "Stage"})}
_FUNCTION = {frozenset({"FunctionName"})}
_ECS_SERVICE = {frozenset({"ClusterName", "ServiceName"})}
_ALB = {frozenset({"LoadBalancer"})}
_TARGETS = {frozenset({"LoadBalancer", "TargetGroup"})}
_DB = {frozenset({"DBInstanceIdentifier"})}
_CACHE = {frozenset({"CacheClusterId"})}
_TABLE = {frozenset({"TableName"})}
AWS_METRICS: dict[str, dict[str, set[frozenset[str]]]] = {
    "AWS/ApiGateway": {m: _API for m in ("Count", "4XXError", "5XXError", "Latency", "IntegrationLatency")},
    "AWS/Lambda": {m: _FUNCTION for m in ("Errors", "Throttles", "ConcurrentExecutions", "Duration", "Invocations")},
    "AWS/ECS": {m: _ECS_SERVICE for m in ("CPUUtilization", "MemoryUtilization")},
    "ECS/ContainerInsights": {"RunningTaskCount": _ECS_SERVICE},
    "AWS/ApplicationELB": {
        "HTTPCode_ELB_5XX_Count": _ALB,
        "HTTPCode_Target_5XX_Count": _ALB,
        "TargetResponseTime": _ALB,
        "HealthyHostCount": _TARGETS,
        "UnHealthyHostCount": _TARGETS,
    },
    "AWS/RDS": {m: _DB for m in ("CPUUtilization", "DatabaseConnections", "FreeStorageSpace")},
    "AWS/ElastiCache": {m: _CACHE for m in ("DatabaseMemoryUsagePercentage", "Evictions", "CPUUtilization")},
    "AWS/DynamoDB": {m: _TABLE for m in ("ReadThrottleEvents", "WriteThrottleEvents", "SystemErrors")},
}


def known(namespace: str, metric: str, dimensions: set[str]) -> bool:
    if namespace == NAMESPACE:
        return metric in DIMENSION_SETS and tuple(sorted(dimensions)) in {
            tuple(sorted(dims)) for dims in DIMENSION_SETS[metric]
        }
    return frozenset(dimensions) in AWS_METRICS.get(namespace, {}).get(metric, set())


def alarm_metrics(alarm: dict[str, Any]) -> list[tuple[str, str, set[str]]]:
    if "MetricName" in alarm:
        return [(alarm["Namespace"], alarm["MetricName"], {d["Name"] for d in alarm.get("Dimensions", [])})]
    found = []
    for query in alarm["Metrics"]:
        if "MetricStat" in query:
            metric = query["MetricStat"]["Metric"]
            found.append((metric["Namespace"], metric["MetricName"], {d["Name"] for d in metric.get("Dimensions", [])}))
    return found


def dashboard() -> dict[str, Any]:
    (board,) = resources("AWS::CloudWatch::Dashboard").values()
    body = board["DashboardBody"]["Fn::Sub"]
    parsed: dict[str, Any] = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))
    return parsed


def dashboard_metrics() -> tuple[list[tuple[str, str, set[str]]], list[str]]:
    """(namespace, metric, dimension names) of each plotted metric ("." repeats the row above),
    and the SEARCH expressions."""
    metrics, searches = [], []
    for widget in dashboard()["widgets"]:
        previous: list[Any] = []
        for row in widget.get("properties", {}).get("metrics", []):
            if isinstance(row[0], dict):
                searches.append(row[0]["expression"])
                continue
            fields = [f for f in row if not isinstance(f, dict)]
            fields = [previous[i] if f == "." and i < len(previous) else f for i, f in enumerate(fields)]
            previous = fields
            metrics.append((fields[0], fields[1], set(fields[2::2])))
    return metrics, searches


def test_every_alarm_watches_a_metric_that_is_published() -> None:
    alarms = resources("AWS::CloudWatch::Alarm")
    assert len(alarms) >= 20
    for name, alarm in alarms.items():
        watched = alarm_metrics(alarm)
        assert watched, name
        for namespace, metric, dimensions in watched:
            assert known(namespace, metric, dimensions), (name, namespace, metric, dimensions)


def test_every_dashboard_metric_is_published() -> None:
    metrics, searches = dashboard_metrics()
    for namespace, metric, dimensions in metrics:
        assert known(namespace, metric, dimensions), (namespace, metric, dimensions)
    for expression in searches:
        match = re.fullmatch(
            r"SEARCH\('\{(?P<schema>[^}]+)\} MetricName=\"(?P<metric>\w+)\"', 'Sum', 300\)", expression
        )
        assert match is not None, expression
        namespace, *dimensions = match["schema"].split(",")
        assert known(namespace, match["metric"], set(dimensions)), expression


def test_dashboard_covers_every_layer() -> None:
    metrics, searches = dashboard_metrics()
    plotted = {(namespace, metric) for namespace, metric, _ in metrics}
    assert plotted >= {
        ("AWS/ApiGateway", "4XXError"),
        ("AWS/ApiGateway", "5XXError"),
        ("AWS/ApiGateway", "Latency"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/Lambda", "ConcurrentExecutions"),
        (NAMESPACE, "TimeToFirstByte"),
        ("AWS/ECS", "CPUUtilization"),
        ("AWS/ECS", "MemoryUtilization"),
        ("ECS/ContainerInsights", "RunningTaskCount"),
        ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count"),
        ("AWS/ApplicationELB", "UnHealthyHostCount"),
        ("AWS/RDS", "CPUUtilization"),
        ("AWS/RDS", "DatabaseConnections"),
        ("AWS/RDS", "FreeStorageSpace"),
        ("AWS/ElastiCache", "DatabaseMemoryUsagePercentage"),
        ("AWS/ElastiCache", "Evictions"),
        ("AWS/DynamoDB", "WriteThrottleEvents"),
    }
    assert any('MetricName="InputTokens"' in s and "{GenAIGateway,model}" in s for s in searches)
    assert any('MetricName="OutputTokens"' in s for s in searches)
    functions = {name for name in resources("AWS::Lambda::Function")}
    lambda_rows = [m for m in metrics if m[0] == "AWS/Lambda"]
    assert len(lambda_rows) == 3 * len(functions)  # errors, throttles and concurrency of each


def test_alarms_cover_the_runbook_and_notify_the_optional_topic() -> None:
    alarms = resources("AWS::CloudWatch::Alarm")
    watched = {(ns, metric) for alarm in alarms.values() for ns, metric, _ in alarm_metrics(alarm)}
    assert watched >= {
        ("AWS/ApiGateway", "5XXError"),
        ("AWS/ApiGateway", "4XXError"),
        ("AWS/ApiGateway", "Latency"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/Lambda", "ConcurrentExecutions"),
        (NAMESPACE, "TimeToFirstByte"),
        (NAMESPACE, "GatewayErrors"),
        (NAMESPACE, "HistoryStoreFailures"),
        ("AWS/ECS", "CPUUtilization"),
        ("ECS/ContainerInsights", "RunningTaskCount"),
        ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count"),
        ("AWS/ApplicationELB", "UnHealthyHostCount"),
        ("AWS/RDS", "FreeStorageSpace"),
        ("AWS/ElastiCache", "Evictions"),
        ("AWS/DynamoDB", "ReadThrottleEvents"),
    }
    topic = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == topic and alarm["OKActions"] == topic, name
    lambda_alarms = [a for a in alarms.values() if a.get("Namespace") == "AWS/Lambda"]
    per_function = {(a["MetricName"], json.dumps(a["Dimensions"])) for a in lambda_alarms}
    assert len(per_function) == 3 * len(resources("AWS::Lambda::Function"))


def test_the_gateway_namespace_is_the_templates() -> None:
    globals_env = translate()["Resources"]["OpenAIChatFunction"]["Properties"]["Environment"]["Variables"]
    assert globals_env["POWERTOOLS_METRICS_NAMESPACE"] == NAMESPACE == "GenAIGateway"
