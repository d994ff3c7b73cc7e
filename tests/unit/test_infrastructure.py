"""What a reviewer checks in template.yaml: every part of the design is there, private where it
should be, encrypted, least-privilege, and nothing public but the API."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from local.cfn import translate_template as translate
from local.template import REPO_ROOT


def resources(kind: str, cfn: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    cfn = cfn or translate()
    return {name: r.get("Properties", {}) for name, r in cfn["Resources"].items() if r["Type"] == kind}


def one(kind: str) -> dict[str, Any]:
    found = resources(kind)
    assert len(found) == 1, (kind, list(found))
    return next(iter(found.values()))


def test_every_part_of_the_design_is_declared() -> None:
    cfn = translate()
    kinds = {r["Type"] for r in cfn["Resources"].values()}
    for kind in (
        "AWS::EC2::VPC",
        "AWS::EC2::NatGateway",
        "AWS::EC2::VPCEndpoint",
        "AWS::EC2::FlowLog",
        "AWS::ApiGateway::RestApi",
        "AWS::ApiGateway::Stage",
        "AWS::ApiGatewayV2::VpcLink",
        "AWS::WAFv2::WebACL",
        "AWS::WAFv2::WebACLAssociation",
        "AWS::WAFv2::LoggingConfiguration",
        "AWS::Lambda::Function",
        "AWS::Lambda::LayerVersion",
        "AWS::DynamoDB::Table",
        "AWS::ECS::Cluster",
        "AWS::ECS::TaskDefinition",
        "AWS::ECS::Service",
        "AWS::ApplicationAutoScaling::ScalableTarget",
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "AWS::RDS::DBInstance",
        "AWS::ElastiCache::ReplicationGroup",
        "AWS::SecretsManager::Secret",
    ):
        assert kind in kinds, kind
    subnets = resources("AWS::EC2::Subnet", cfn)
    private = [p for name, p in subnets.items() if name.startswith("Private")]
    assert len({str(p["AvailabilityZone"]) for p in private}) == 2
    assert not any(p.get("MapPublicIpOnLaunch") for p in subnets.values())
    endpoints = {
        p["ServiceName"]["Fn::Sub"].removeprefix("com.amazonaws.${AWS::Region}.")
        for p in resources("AWS::EC2::VPCEndpoint", cfn).values()
    }
    assert endpoints >= {
        "dynamodb",
        "s3",
        "secretsmanager",
        "bedrock-runtime",
        "bedrock-agent",
        "logs",
        "ecr.api",
        "ecr.dkr",
    }
    assert set(cfn["Outputs"]) >= {"GatewayUrl", "BedrockEndpointUrl", "OpenAIBaseUrl", "MasterKeySecretArn"}


def test_nothing_is_public_but_the_api() -> None:
    assert one("AWS::ElasticLoadBalancingV2::LoadBalancer")["Scheme"] == "internal"
    database = one("AWS::RDS::DBInstance")
    assert database["PubliclyAccessible"] is False and database["StorageEncrypted"] is True
    service = one("AWS::ECS::Service")
    assert service["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "DISABLED"
    for name, group in resources("AWS::EC2::SecurityGroup").items():
        for rule in group.get("SecurityGroupIngress", []):
            assert rule.get("CidrIp") != "0.0.0.0/0", name
    for function in resources("AWS::Lambda::Function").values():
        assert (
            function["VpcConfig"]["SecurityGroupIds"]
            and function["Runtime"] == "python3.13"
            and function["Architectures"] == [{"Ref": "LambdaArchitecture"}]
        )
        assert function["TracingConfig"] == {"Mode": "Active"}
    assert translate()["Parameters"]["LambdaArchitecture"]["Default"] == "arm64"  # what deploys


def test_data_is_encrypted_and_recoverable() -> None:
    table = one("AWS::DynamoDB::Table")
    assert (
        table["SSESpecification"]["SSEEnabled"]
        and table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]
    )
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    cache = one("AWS::ElastiCache::ReplicationGroup")
    assert (
        cache["TransitEncryptionEnabled"]
        and cache["AtRestEncryptionEnabled"]
        and "resolve:secretsmanager" in str(cache["AuthToken"])
    )
    database = one("AWS::RDS::DBInstance")
    assert "resolve:secretsmanager" in str(database["MasterUserPassword"]) and database["DeletionProtection"] == {
        "Ref": "DeletionProtection"
    }


def conditional(items: list[Any]) -> list[dict[str, Any]]:
    """List entries with each ``Fn::If`` resolved both ways (``AWS::NoValue`` dropped)."""
    entries = []
    for item in items:
        branches = item["Fn::If"][1:] if isinstance(item, dict) and "Fn::If" in item else [item]
        entries += [b for b in branches if b != {"Ref": "AWS::NoValue"}]
    return entries


def test_no_secret_in_plain_environment_or_outputs() -> None:
    suspicious = re.compile(r"(KEY|PASSWORD|SECRET|TOKEN)", re.IGNORECASE)
    task = one("AWS::ECS::TaskDefinition")["ContainerDefinitions"][0]
    assert not [e["Name"] for e in conditional(task["Environment"]) if suspicious.search(e["Name"])]
    assert {s["Name"] for s in conditional(task["Secrets"])} >= {
        "LITELLM_MASTER_KEY",
        "DATABASE_PASSWORD",
        "REDIS_PASSWORD",
        "OPENAI_API_KEY",
    }
    for function in resources("AWS::Lambda::Function").values():
        names = function.get("Environment", {}).get("Variables", {})
        assert not [n for n in names if suspicious.search(n) and not n.endswith("_ARN")], names
    outputs = translate()["Outputs"]
    assert "GetAtt" not in str(outputs["MasterKeySecretArn"]) and "resolve" not in str(outputs)


def test_policies_are_least_privilege() -> None:
    cfn = translate()
    for name, role in resources("AWS::IAM::Role", cfn).items():
        for policy in conditional(role.get("Policies", [])):
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert not any(a == "*" or a.endswith(":*") for a in actions), (name, actions)
                assert statement.get("Resource") != "*", (name, actions)
    function_roles = {n: r for n, r in resources("AWS::IAM::Role", cfn).items() if n.endswith("FunctionRole")}
    granted = {n: str(r.get("Policies", [])) for n, r in function_roles.items()}
    assert (
        "bedrock:GetPrompt" in granted["OpenAIChatFunctionRole"]
        and "bedrock:GetPrompt" not in granted["ChatHistoryFunctionRole"]
    )
    assert "dynamodb" not in granted["UserKeysFunctionRole"]


def test_waf_counts_the_rules_that_block_real_prompts() -> None:
    acl = one("AWS::WAFv2::WebACL")
    common = next(r for r in acl["Rules"] if r["Name"] == "AWSManagedRulesCommonRuleSet")
    overrides = {
        o["Name"]: o["ActionToUse"] for o in common["Statement"]["ManagedRuleGroupStatement"]["RuleActionOverrides"]
    }
    assert overrides == {"GenericLFI_BODY": {"Count": {}}, "SizeRestrictions_BODY": {"Count": {}}}
    redacted = one("AWS::WAFv2::LoggingConfiguration")["RedactedFields"]
    assert {"SingleHeader": {"Name": "authorization"}} in redacted


def test_litellm_service_is_production_shaped() -> None:
    service = one("AWS::ECS::Service")
    assert service["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    task = one("AWS::ECS::TaskDefinition")["ContainerDefinitions"][0]
    assert "/health/liveliness" in " ".join(task["HealthCheck"]["Command"])
    # LiteLLM's per-request INFO lines cost ~13% of its CPU (issue 17); warnings and errors stay.
    assert {"Name": "LITELLM_LOG", "Value": "WARNING"} in task["Environment"]
    # Each worker freezes the heap it started with (issue 17; the module is in the image, below).
    hook = {"Name": "LITELLM_WORKER_STARTUP_HOOKS", "Value": "gateway_worker_hooks:freeze_startup_heap"}
    assert hook in task["Environment"]
    metrics = {
        p["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]["PredefinedMetricType"]
        for p in resources("AWS::ApplicationAutoScaling::ScalingPolicy").values()
    }
    assert metrics == {"ECSServiceAverageCPUUtilization", "ALBRequestCountPerTarget"}
    assert all("RetentionInDays" in g for g in resources("AWS::Logs::LogGroup").values())


def test_litellm_image_and_config_match_the_local_stack() -> None:
    version = re.search(r"litellm\[proxy\]==([\d.]+)", (REPO_ROOT / "requirements" / "litellm.in").read_text())
    assert version is not None
    dockerfile = (REPO_ROOT / "ecs_litellm" / "Dockerfile").read_text()
    assert f":v{version.group(1)}-" in dockerfile and "COPY config.yaml" in dockerfile
    config = yaml.safe_load((REPO_ROOT / "ecs_litellm" / "config.yaml").read_text())
    # The least-cost routing (issue 17, bench/litellm_cost.py): stateless, no pre-call checks.
    assert config["router_settings"]["routing_strategy"] == "simple-shuffle"
    assert "enable_pre_call_checks" not in config["router_settings"]
    assert "DEBUG" not in Path(REPO_ROOT / "ecs_litellm" / "config.yaml").read_text().upper().replace("# ", "")
    names = [m["model_name"] for m in config["model_list"]]
    # uvicorn's C parser in the image, at the local venv's pin (issue 17: cheaper per request).
    pin = re.search(r"^httptools==[\d.]+$", (REPO_ROOT / "requirements" / "litellm.in").read_text(), re.M)
    assert pin is not None and f"pip install --no-cache-dir {pin.group(0)} " in dockerfile
    # OpenTelemetry's SDK importable in the image, as in the local venv: else LiteLLM retries a
    # failed import on every request (issue 17).
    assert 'python -c "import opentelemetry.sdk._logs, opentelemetry.sdk.trace"' in dockerfile
    assert re.search(r"^opentelemetry-sdk==[\d.]+$", (REPO_ROOT / "requirements" / "litellm.in").read_text(), re.M)
    # The workers' startup hook, importable in the image (a worker whose hook fails does not start).
    assert "COPY worker_hooks/gateway_worker_hooks.py /app/" in dockerfile
    assert 'python -c "from gateway_worker_hooks import freeze_startup_heap"' in dockerfile
    assert (
        any("claude" in n for n in names)
        and any("nova" in n for n in names)
        and any("llama" in n for n in names)
        and any("mistral" in n for n in names)
    )
