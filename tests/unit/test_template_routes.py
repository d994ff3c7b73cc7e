"""template.yaml is the single source of routes: the apps, the local gateway and the events agree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from starlette.routing import Route as AppRoute

from local.gateway import load_function_app
from local.template import LITELLM, REPO_ROOT, Route, functions, load_routes, load_template

NOT_API_ROUTES = {("GET", "/health")}  # readiness for the Lambda Web Adapter only


def _app_routes(spec_app: object) -> set[tuple[str, str]]:
    routes = set()
    for route in getattr(spec_app, "routes", []):
        if isinstance(route, AppRoute) and route.methods:
            # Starlette {x:path} is API Gateway's greedy {x+} when last; elsewhere it is a {x} whose
            # value may hold an encoded slash (ARNs), which the app sees decoded.
            last = route.path.rsplit("/", 1)[-1]
            path = route.path.replace(":path}", "+}") if last.endswith(":path}") else route.path.replace(":path}", "}")
            routes |= {(method, path) for method in route.methods}
    return routes - NOT_API_ROUTES - {("HEAD", "/health")}


def test_every_function_serves_exactly_its_template_routes() -> None:
    template = load_template()
    routes = load_routes(template)
    specs = functions(template)
    assert specs, "the template declares no function"
    for spec in specs:
        declared = {(r.method, r.path) for r in routes if r.target == spec.logical_id}
        assert declared, f"{spec.logical_id} has no Api event"
        assert _app_routes(load_function_app(spec)) == declared, spec.logical_id


def test_everything_else_reaches_litellm() -> None:
    routes = load_routes()
    passthrough = [r for r in routes if r.target == LITELLM]
    assert [(r.path, r.upstream_path) for r in passthrough] == [("/ui", "/ui/"), ("/{proxy+}", None)]
    first = {p: next(r.target for r in routes if r.matches("POST", p)) for p in ("/v1/chat/completions", "/key/update")}
    assert first == {"/v1/chat/completions": "OpenAIChatFunction", "/key/update": LITELLM}
    assert next(r.target for r in routes if r.matches("GET", "/v1/models")) == LITELLM


def test_streaming_routes_are_declared_as_streaming() -> None:
    streaming = {r.path for r in load_routes() if r.streaming and r.target != LITELLM}
    assert streaming == {
        "/v1/chat/completions",
        "/chat/completions",
        "/bedrock/model/{modelId}/converse",
        "/bedrock/model/{modelId}/converse-stream",
        "/bedrock/model/{modelId}/invoke",
        "/bedrock/model/{modelId}/invoke-with-response-stream",
        "/bedrock/model/{modelId}/count-tokens",
    }


def test_every_route_has_an_event_and_every_event_a_route() -> None:
    routes = [r for r in load_routes() if r.target != LITELLM]
    events = {p.name: json.loads(p.read_text()) for p in (REPO_ROOT / "events").glob("*.json")}
    covered = {(e["httpMethod"], e["resource"]) for e in events.values()}
    assert {(r.method, r.path) for r in routes} <= covered
    for name, event in events.items():
        assert any(r.method == event["httpMethod"] and r.path == event["resource"] for r in routes), name
        assert any(r.matches(event["httpMethod"], event["path"]) for r in routes), name


def test_route_matching_follows_api_gateway_rules() -> None:
    one = Route("POST", "/bedrock/model/{modelId}/converse", "F")
    greedy = Route("ANY", "/{proxy+}", LITELLM)
    assert one.matches("POST", "/bedrock/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Aprompt%2FABC/converse")
    assert not one.matches("POST", "/bedrock/model/a/b/converse")
    assert not one.matches("GET", "/bedrock/model/m/converse")
    assert greedy.matches("DELETE", "/key/delete") and not greedy.matches("GET", "/")
    assert sorted([greedy, one], key=lambda r: r.specificity) == [one, greedy]


def test_function_code_uri_is_its_package() -> None:
    """Streaming functions start run.sh under the Lambda Web Adapter; buffered ones use mangum."""
    template = load_template()
    for spec in functions(template):
        assert (Path(spec.source_dir) / spec.package / "app.py").is_file(), spec.code_uri
        handler = template["Resources"][spec.logical_id]["Properties"]["Handler"]
        streams = any(r.streaming for r in load_routes(template) if r.target == spec.logical_id)
        if streams:
            assert handler == "run.sh" and (Path(spec.source_dir) / "run.sh").is_file(), spec.logical_id
        else:
            assert handler == f"{spec.package}.app.handler", spec.logical_id


def test_the_local_stack_gives_the_functions_the_templates_environment() -> None:
    from local.template import functions_environment

    local = {
        "GATEWAY_LITELLM_BASE_URL": "http://l",
        "GATEWAY_HISTORY_TABLE": "t",
        "GATEWAY_MASTER_KEY_SECRET_ARN": "",
        "GATEWAY_PRIORITY_REDIS_URL": "",
        "GATEWAY_PRIORITY_REDIS_AUTH_SECRET_ARN": "",
    }
    environment = functions_environment(load_template(), local)
    assert environment["GATEWAY_LOG_CONTENT"] == "false"  # !Ref LogContent: the parameter's default
    assert environment["ONBOARDING_MAX_BUDGET"] == "50" and environment["POWERTOOLS_LOG_LEVEL"] == "INFO"
    assert environment["GATEWAY_LITELLM_BASE_URL"] == "http://l"
    assert not {"PORT", "AWS_LWA_INVOKE_MODE", "POWERTOOLS_SERVICE_NAME"} & set(environment)
    every = {name for spec in functions(load_template()) for name in spec.environment}
    assert set(environment) == every - {"PORT", "AWS_LWA_INVOKE_MODE", "AWS_LWA_READINESS_CHECK_PATH"} - {
        "AWS_LAMBDA_EXEC_WRAPPER",
        "POWERTOOLS_SERVICE_NAME",
    }
    with pytest.raises(ValueError, match="GATEWAY_HISTORY_TABLE .* names an AWS resource"):
        functions_environment(load_template(), {k: v for k, v in local.items() if k != "GATEWAY_HISTORY_TABLE"})
