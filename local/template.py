"""Read template.yaml the way API Gateway will route it: the single source of routes.

The local gateway, the route tests and the events tests all take their routing from here, so
local runs cannot drift from the deployed API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "LITELLM",
    "REPO_ROOT",
    "TEMPLATE_PATH",
    "FunctionSpec",
    "Route",
    "functions",
    "functions_environment",
    "litellm_task_setting",
    "load_routes",
    "load_template",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = REPO_ROOT / "template.yaml"
LITELLM = "litellm"  # target of the API's HTTP-proxy (passthrough) routes


# libyaml's parser when PyYAML has it (its wheels do): the same documents, a tenth of the time
# (template.yaml: 0.02 s instead of 0.36 s, read by every local start and many tests).
try:
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # PyYAML built without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]


class _CfnLoader(_SafeLoader):
    """YAML loader that keeps CloudFormation short-form tags (!Ref, !Sub …) as opaque values."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    name = suffix if suffix in {"Ref", "Condition"} else f"Fn::{suffix}"
    return {name: value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open() as handle:
        document: dict[str, Any] = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 (safe loader subclass)
    return document


def litellm_task_setting(name: str, template: dict[str, Any] | None = None) -> str:
    """A variable of the LiteLLM container's environment as the ECS task sets it (a plain value)."""
    resources = (template or load_template())["Resources"]
    (container,) = resources["LiteLLMTaskDefinition"]["Properties"]["ContainerDefinitions"]
    return str(next(e["Value"] for e in container["Environment"] if e["Name"] == name))


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_uri: str  # e.g. functions/openai_chat/
    environment: dict[str, Any] = field(default_factory=dict)

    @property
    def package(self) -> str:
        """The function's Python package: its folder's name (unique across functions)."""
        return Path(self.code_uri).name

    @property
    def source_dir(self) -> Path:
        return REPO_ROOT / self.code_uri


@dataclass(frozen=True)
class Route:
    method: str  # upper case, or ANY
    path: str  # API Gateway spelling: /bedrock/model/{modelId}/converse, /{proxy+}
    target: str  # a function's logical id, or LITELLM
    streaming: bool = False
    upstream_path: str | None = None  # an HTTP-proxy route's fixed integration path (/ui -> /ui/)

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        regex = re.sub(r"\\\{[^/{}]+\\\+\\\}", ".+", re.escape(self.path))  # {name+}: greedy
        regex = re.sub(r"\\\{[^/{}]+\\\}", "[^/]+", regex)  # {name}: one segment
        return re.compile(f"^{regex}$")

    @property
    def specificity(self) -> tuple[int, int, int]:
        """API Gateway prefers literal segments, then {param}, then {proxy+}."""
        segments = self.path.strip("/").split("/")
        greedy = sum(s.endswith("+}") for s in segments)
        params = sum(s.startswith("{") for s in segments) - greedy
        return (greedy, params, -len(segments))

    def matches(self, method: str, path: str) -> bool:
        return self.method in {"ANY", method.upper()} and bool(self.pattern.match(path))


def functions(template: dict[str, Any]) -> list[FunctionSpec]:
    global_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    specs = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        env = {**global_env, **props.get("Environment", {}).get("Variables", {})}
        specs.append(FunctionSpec(logical_id, props["CodeUri"], env))
    return specs


# Variables only the Lambda runtime uses (the Web Adapter's); the local gateway serves every
# function in one uvicorn process, so they mean nothing here.
LAMBDA_ONLY = frozenset({"AWS_LAMBDA_EXEC_WRAPPER", "AWS_LWA_INVOKE_MODE", "AWS_LWA_READINESS_CHECK_PATH", "PORT"})


def _parameter_default(template: dict[str, Any], name: str) -> str:
    default = template.get("Parameters", {}).get(name, {}).get("Default", "")
    return str(default).lower() if isinstance(default, bool) else str(default)


def functions_environment(template: dict[str, Any], local: dict[str, str]) -> dict[str, str]:
    """The environment every function has in AWS, for the local gateway (one process serves them
    all): literals as written, ``!Ref Parameter`` as the parameter's default, and each value
    naming an AWS resource (the ALB, the table, the secret) from ``local``, by variable name. A
    variable that names a resource and has no local value is an error, so the template and the
    local stack cannot drift apart silently. ``POWERTOOLS_SERVICE_NAME`` differs per function
    and is left out (``local.gateway`` gives each app its own)."""
    environment: dict[str, str] = {}
    for spec in functions(template):
        for name, value in spec.environment.items():
            if name in LAMBDA_ONLY or name == "POWERTOOLS_SERVICE_NAME":
                continue
            if name in local:
                resolved = local[name]
            elif isinstance(value, str | int | float | bool):
                resolved = str(value).lower() if isinstance(value, bool) else str(value)
            elif isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in template.get("Parameters", {}):
                resolved = _parameter_default(template, value["Ref"])
            else:
                raise ValueError(f"{spec.logical_id}: {name} = {value} names an AWS resource; give it a local value")
            if environment.get(name, resolved) != resolved:
                raise ValueError(f"{name} differs between functions; the local gateway runs them in one process")
            environment[name] = resolved
    return environment


def _fixed_path(integration: dict[str, Any]) -> str | None:
    """The path of an integration URI without path parameters (``http://${Alb}/${StageName}/ui/``
    -> ``/ui/``). The stage prefix is LiteLLM's root path in AWS; locally there is no stage."""
    uri = integration.get("uri")
    text = uri.get("Fn::Sub") if isinstance(uri, dict) else uri
    if not isinstance(text, str) or "{proxy" in text:
        return None
    path = re.sub(r"^[a-z]+://(\$\{[^}]+\}|[^/]+)", "", text).replace("/${StageName}", "", 1)
    return path or "/"


def load_routes(template: dict[str, Any] | None = None) -> list[Route]:
    """Every route of the gateway API, most specific first (the order API Gateway matches in)."""
    template = template or load_template()
    routes: list[Route] = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            for event in resource["Properties"].get("Events", {}).values():
                if event["Type"] != "Api":
                    continue
                props = event["Properties"]
                streaming = props.get("ResponseTransferMode") == "RESPONSE_STREAM"
                routes.append(Route(props["Method"].upper(), props["Path"], logical_id, streaming))
        elif resource["Type"] == "AWS::Serverless::Api":
            paths = resource["Properties"].get("DefinitionBody", {}).get("paths", {})
            for path, methods in paths.items():
                for method, operation in methods.items():
                    integration = operation.get("x-amazon-apigateway-integration", {})
                    if integration.get("type") == "http_proxy":
                        verb = "ANY" if method == "x-amazon-apigateway-any-method" else method.upper()
                        routes.append(
                            Route(verb, path, LITELLM, streaming=True, upstream_path=_fixed_path(integration))
                        )
    return sorted(routes, key=lambda r: r.specificity)
