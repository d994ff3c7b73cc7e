"""The template creates and runs as deployed: each test guards one deploy or runtime blocker that
cfn-lint and the SAM translator let through (issue 11). No stack, no AWS: the template, its
translation, botocore's API Gateway model and the LiteLLM image's files."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping
from typing import Any

import botocore.session
import pytest
import yaml
from botocore.validate import ParamValidator

from local.cfn import translate_template as translate
from local.template import REPO_ROOT
from tests.unit.test_infrastructure import one, resources

# CloudFormation's rule-specific intrinsic functions: nothing else is allowed inside Rules.
RULE_FUNCTIONS = {
    "Fn::And",
    "Fn::Contains",
    "Fn::EachMemberEquals",
    "Fn::EachMemberIn",
    "Fn::Equals",
    "Fn::Not",
    "Fn::Or",
    "Fn::RefAll",
    "Fn::ValueOf",
    "Fn::ValueOfAll",
    "Ref",
}


def _functions(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" or key.startswith("Fn::") or key == "Condition":
                yield key
            yield from _functions(value)
    elif isinstance(node, list):
        for item in node:
            yield from _functions(item)


def test_rules_use_only_rule_specific_functions() -> None:
    rules = translate()["Rules"]
    assert len(rules) >= 4
    for name, rule in rules.items():
        used = set(_functions(rule.get("RuleCondition", {})))
        for assertion in rule["Assertions"]:
            used |= set(_functions(assertion["Assert"]))
        assert used <= RULE_FUNCTIONS, (name, used - RULE_FUNCTIONS)


# --- Rules, evaluated the way CloudFormation does before it creates anything ---


def _evaluate(node: Any, parameters: Mapping[str, str | list[str]]) -> Any:
    if isinstance(node, str | list) and not isinstance(node, dict):
        return [_evaluate(n, parameters) for n in node] if isinstance(node, list) else node
    ((function, args),) = node.items()
    if function == "Ref":
        return parameters[args]
    values = [_evaluate(a, parameters) for a in args]
    if function == "Fn::Equals":
        return values[0] == values[1]
    if function == "Fn::Not":
        return not values[0]
    if function == "Fn::And":
        return all(values)
    if function == "Fn::Or":
        return any(values)
    if function == "Fn::Contains":
        return values[1] in values[0]
    if function == "Fn::EachMemberEquals":
        return all(v == values[1] for v in values[0])
    if function == "Fn::EachMemberIn":
        return all(v in values[1] for v in values[0])
    raise AssertionError(f"no evaluator for {function}")


def refused_by(overrides: Mapping[str, str | list[str]]) -> list[str]:
    """The AssertDescriptions CloudFormation would answer for these parameter values."""
    cfn = translate()
    parameters: dict[str, str | list[str]] = {}
    for name, spec in cfn["Parameters"].items():
        default = str(spec.get("Default", ""))
        parameters[name] = default.split(",") if spec["Type"] == "CommaDelimitedList" else default
    parameters.update(overrides)
    refused = []
    for rule in cfn["Rules"].values():
        if "RuleCondition" in rule and not _evaluate(rule["RuleCondition"], parameters):
            continue
        refused += [a["AssertDescription"] for a in rule["Assertions"] if not _evaluate(a["Assert"], parameters)]
    return refused


def test_the_defaults_pass_every_rule() -> None:
    assert refused_by({}) == []


def test_an_existing_vpc_needs_its_subnets_and_cidr() -> None:
    subnets = ["subnet-0a", "subnet-0b"]
    assert (
        refused_by({"ExistingVpcId": "vpc-1", "ExistingPrivateSubnetIds": subnets, "ExistingVpcCidr": "172.31.0.0/16"})
        == []
    )
    assert refused_by({"ExistingVpcId": "vpc-1", "ExistingVpcCidr": "172.31.0.0/16"}) == [
        "ExistingVpcId needs ExistingPrivateSubnetIds (two or more private subnets, comma-separated)."
    ]
    assert refused_by({"ExistingVpcId": "vpc-1", "ExistingPrivateSubnetIds": subnets}) == [
        "ExistingVpcId needs ExistingVpcCidr (the VPC's CIDR block; the functions and the VPC link"
        " reach the load balancer inside it)."
    ]


def connections_per_task() -> int:
    """Postgres connections one LiteLLM task holds: workers (the image's CMD) x pool per worker."""
    dockerfile = (REPO_ROOT / "ecs_litellm" / "Dockerfile").read_text()
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE)
    assert cmd is not None
    argv = yaml.safe_load(cmd.group(1))
    workers = int(argv[argv.index("--num_workers") + 1])
    config = yaml.safe_load((REPO_ROOT / "ecs_litellm" / "config.yaml").read_text())
    pool = int(config["general_settings"]["database_connection_pool_limit"])
    return workers * pool


# RDS Postgres max_connections = DBInstanceClassMemory / 9531392 (what the instance reports by
# default; DBInstanceClassMemory is the class's memory less what RDS keeps for itself).
MAX_CONNECTIONS = {
    "db.t4g.micro": 80,
    "db.t4g.small": 180,
    "db.t4g.medium": 400,
    "db.t4g.large": 820,
    "db.m7g.large": 820,
    "db.r7g.large": 1700,
}
RESERVED = 10  # migrations, an admin session, RDS's reserved superuser slots


def test_connection_budget_is_refused_where_it_does_not_fit() -> None:
    per_task = connections_per_task()
    assert per_task == 8
    classes = translate()["Parameters"]["DbInstanceClass"]["AllowedValues"]
    assert set(classes) == set(MAX_CONNECTIONS)
    max_count = int(translate()["Parameters"]["LiteLLMMaxCount"]["MaxValue"])
    for db_class in classes:
        for count in range(1, max_count + 1):
            # a deploy runs old and new tasks side by side: MaximumPercent 200
            peak = per_task * 2 * count + RESERVED
            refused = refused_by({"DbInstanceClass": db_class, "LiteLLMMaxCount": str(count)})
            assert (refused == []) == (peak <= MAX_CONNECTIONS[db_class]), (db_class, count, peak, refused)
    service = one("AWS::ECS::Service")
    assert service["DeploymentConfiguration"]["MaximumPercent"] == 200


# --- The private integration to the load balancer, against API Gateway's own model ---


def _apigateway_model() -> Any:
    return botocore.session.get_session().get_service_model("apigateway")


def _alb_integrations() -> dict[str, dict[str, Any]]:
    api = next(r for r in translate()["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi")
    found = {}
    for path, methods in api["Properties"]["Body"]["paths"].items():
        for method, operation in methods.items():
            integration = operation.get("x-amazon-apigateway-integration", {})
            if integration.get("connectionType") == "VPC_LINK":
                found[f"{method} {path}"] = integration
    return found


def test_every_integration_key_is_a_member_of_api_gateways_integration_shape() -> None:
    """An OpenAPI import turns x-amazon-apigateway-integration into an Integration: a key that
    is not a member of that shape (a typo, an invented name) would be dropped silently."""
    members = set(_apigateway_model().shape_for("Integration").members)
    assert {"integrationTarget", "responseTransferMode"} <= members
    integrations = _alb_integrations()
    assert set(integrations) == {"get /ui", "x-amazon-apigateway-any-method /{proxy+}"}
    for route, integration in integrations.items():
        assert set(integration) - {"responses"} <= members, (route, set(integration) - members)


def test_alb_integrations_validate_as_a_put_integration_call() -> None:
    model = _apigateway_model()
    shape = model.operation_model("PutIntegration").input_shape
    for route, integration in _alb_integrations().items():
        placeholder = "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/app/litellm/1"
        params = {
            "restApiId": "a1b2c3",
            "resourceId": "r1",
            "httpMethod": "GET" if route.startswith("get") else "ANY",
            "type": integration["type"].upper(),
            "integrationHttpMethod": integration["httpMethod"],
            "uri": "http://internal-litellm.example/api/{proxy}",
            "connectionType": integration["connectionType"],
            "connectionId": "vl-1",
            "integrationTarget": placeholder,
            "passthroughBehavior": integration["passthroughBehavior"].upper(),
            "timeoutInMillis": integration["timeoutInMillis"],
            "responseTransferMode": integration["responseTransferMode"],
            **({"requestParameters": integration["requestParameters"]} if "requestParameters" in integration else {}),
        }
        report = ParamValidator().validate(params, shape)
        assert not report.has_errors(), (route, report.generate_report())
        for name in ("type", "connectionType", "responseTransferMode"):
            assert params[name] in shape.members[name].enum, (route, name)
        assert integration["integrationTarget"] == {"Ref": "LiteLLMLoadBalancer"}  # Ref of an ALB is its ARN
        assert integration["connectionId"] == {"Ref": "LiteLLMVpcLink"}


def test_passthrough_routes_stream_for_fifteen_minutes_like_the_function_routes() -> None:
    for route, integration in _alb_integrations().items():
        assert integration["responseTransferMode"] == "STREAM", route
        assert integration["timeoutInMillis"] == 900000, route
    balancer = one("AWS::ElasticLoadBalancingV2::LoadBalancer")
    attributes = {a["Key"]: a["Value"] for a in balancer["LoadBalancerAttributes"]}
    assert int(attributes["idle_timeout.timeout_seconds"]) >= 900


# --- LiteLLM's first start on ECS ---

# LiteLLM's first start, measured on this project's 2-core dev machine under load ~8 (other
# engineers' stacks running): an empty Postgres, 220 migrations, then the proxy imported and
# answering /health/liveliness = 92 s (migrations, with Prisma client generation) + 224 s (start,
# less a 60 s migration-diff timeout that only the offline Prisma shim has) = 317 s. Fargate runs
# the migrations with Prisma's schema engine on LiteLLMCpu (1 vCPU by default) before serving.
MEASURED_FIRST_START_S = 317


def test_first_start_fits_the_health_check_start_period_and_grace() -> None:
    task = one("AWS::ECS::TaskDefinition")["ContainerDefinitions"][0]
    check = task["HealthCheck"]
    service = one("AWS::ECS::Service")
    # the container check fails a task Retries misses (Interval apart) after StartPeriod
    container_budget = check["StartPeriod"] + check["Interval"] * check["Retries"]
    assert check["StartPeriod"] <= 300  # ECS's largest start period
    assert container_budget >= 1.2 * MEASURED_FIRST_START_S, check
    # the load balancer's checks must not kill a task the container check still waits for
    assert service["HealthCheckGracePeriodSeconds"] >= max(container_budget, 1.5 * MEASURED_FIRST_START_S)
    dockerfile = (REPO_ROOT / "ecs_litellm" / "Dockerfile").read_text()
    assert f"--start-period={check['StartPeriod']}s" in dockerfile


# --- The LiteLLM image ---


def test_prisma_engines_are_baked_at_build_and_checked_offline() -> None:
    dockerfile = (REPO_ROOT / "ecs_litellm" / "Dockerfile").read_text()
    run = dockerfile[dockerfile.index("RUN prisma py fetch") :]
    assert "prisma generate" in run and "/app/check-prisma-engines.sh" in run
    assert "PRISMA_BINARY_CACHE_DIR=/opt/prisma/binaries" in dockerfile
    check = (REPO_ROOT / "ecs_litellm" / "check-prisma-engines.sh").read_text()
    assert "query-engine" in check and "prisma py fetch" in check
    publish = (REPO_ROOT / "ecs_litellm" / "publish.sh").read_text()
    offline = publish.index("--network none")
    assert offline < publish.index("docker push") and "check-prisma-engines.sh" in publish[offline:]
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "ecs_litellm/publish.sh" in makefile.split("litellm-image:")[1].split("\n\n")[0]


def test_database_tls_verifies_the_server_against_the_rds_bundle_in_the_image() -> None:
    task = one("AWS::ECS::TaskDefinition")["ContainerDefinitions"][0]
    environment = {e["Name"]: e["Value"] for e in task["Environment"] if "Name" in e}
    assert environment["DATABASE_SSLMODE"] == "verify-full"
    bundle = environment["DATABASE_SSLROOTCERT"]
    dockerfile = (REPO_ROOT / "ecs_litellm" / "Dockerfile").read_text()
    assert re.search(
        rf"^ADD .*https://truststore\.pki\.rds\.amazonaws\.com/global/global-bundle\.pem {bundle}$",
        dockerfile,
        re.MULTILINE,
    )


# --- Stack updates and neighbours ---


def test_autoscaling_owns_the_task_count() -> None:
    service = one("AWS::ECS::Service")
    assert "DesiredCount" not in service
    target = one("AWS::ApplicationAutoScaling::ScalableTarget")
    assert target["MinCapacity"] == {"Ref": "LiteLLMDesiredCount"} and target["MaxCapacity"] == {
        "Ref": "LiteLLMMaxCount"
    }


def test_api_gateway_account_setting_is_opt_in_and_retained() -> None:
    cfn = translate()
    assert cfn["Parameters"]["ConfigureApiGatewayAccount"]["Default"] == "false"
    for name in ("ApiGatewayAccount", "ApiGatewayCloudWatchRole"):
        assert cfn["Resources"][name]["DeletionPolicy"] == "Retain", name
        assert cfn["Resources"][name]["UpdateReplacePolicy"] == "Retain", name


VPC_CIDR = {"Fn::If": ["CreateVpc", {"Fn::GetAtt": ["Vpc", "CidrBlock"]}, {"Ref": "ExistingVpcCidr"}]}


def test_traffic_to_the_load_balancer_stays_in_the_vpc_cidr() -> None:
    groups = resources("AWS::EC2::SecurityGroup")
    for name in ("FunctionSecurityGroup", "VpcLinkSecurityGroup"):
        to_balancer = [r for r in groups[name]["SecurityGroupEgress"] if r["FromPort"] == 80]
        assert [r["CidrIp"] for r in to_balancer] == [VPC_CIDR], name
    endpoint_group = groups["EndpointSecurityGroup"]
    assert [r["CidrIp"] for r in endpoint_group["SecurityGroupIngress"]] == [VPC_CIDR]
    assert "10.0.0.0/8" not in str(translate()["Resources"])


def test_endpoints_are_made_in_an_existing_vpc_too() -> None:
    cfn = translate()
    conditions = cfn["Conditions"]
    assert conditions["CreateInterfaceEndpoints"] == {"Fn::Equals": [{"Ref": "EnableInterfaceEndpoints"}, "true"]}
    endpoints = {n: r for n, r in cfn["Resources"].items() if r["Type"] == "AWS::EC2::VPCEndpoint"}
    assert len(endpoints) == 9
    for name, endpoint in endpoints.items():
        assert endpoint["Condition"] in {"CreateInterfaceEndpoints", "CreateGatewayEndpoints"}, name
        assert endpoint["Properties"]["VpcId"] == {"Fn::If": ["CreateVpc", {"Ref": "Vpc"}, {"Ref": "ExistingVpcId"}]}
        where = endpoint["Properties"].get("SubnetIds") or endpoint["Properties"]["RouteTableIds"]
        assert where["Fn::If"][2] in ({"Ref": "ExistingPrivateSubnetIds"}, {"Ref": "ExistingPrivateRouteTableIds"}), (
            name
        )


@pytest.mark.parametrize("script", ["check-prisma-engines.sh", "entrypoint.sh", "publish.sh"])
def test_image_scripts_are_posix_sh(script: str) -> None:
    first = (REPO_ROOT / "ecs_litellm" / script).read_text().splitlines()[0]
    assert shlex.split(first.removeprefix("#!")) == ["/bin/sh"]


@pytest.mark.parametrize("profile", ["default", "dev", "prod"])
def test_samconfig_profiles_pass_every_rule(profile: str) -> None:
    import tomllib

    config = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text())
    overrides = config.get(profile, {}).get("deploy", {}).get("parameters", {}).get("parameter_overrides", "")
    values = dict(pair.split("=", 1) for pair in shlex.split(overrides))
    assert refused_by(values) == [], profile
