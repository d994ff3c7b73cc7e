"""The SAM template lints clean and translates to CloudFormation with the routes we expect."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

from local.template import TEMPLATE_PATH


class _NoManagedPolicies:
    def load(self) -> dict[str, str]:  # offline: no IAM lookups
        return {}


def translate() -> dict[str, Any]:
    template = yaml_parse(TEMPLATE_PATH.read_text())
    template = copy.deepcopy(template)
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            props["CodeUri"] = "s3://bucket/function.zip"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = "s3://bucket/layer.zip"
    result: dict[str, Any] = transform(template, {}, _NoManagedPolicies())
    return result


def test_cfn_lint_passes_on_the_source_template() -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run([str(cfn_lint), str(TEMPLATE_PATH)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_translated_api_streams_chat_and_proxies_the_rest(monkeypatch: Any) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    cfn = translate()
    api = next(r for r in cfn["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi")
    paths = api["Properties"]["Body"]["paths"]
    chat = paths["/v1/chat/completions"]["post"]["x-amazon-apigateway-integration"]
    assert chat["responseTransferMode"] == "STREAM"
    assert "response-streaming-invocations" in chat["uri"]["Fn::Sub"]
    proxy = paths["/{proxy+}"]["x-amazon-apigateway-any-method"]["x-amazon-apigateway-integration"]
    assert proxy["type"] == "http_proxy" and proxy["connectionType"] == "VPC_LINK"
