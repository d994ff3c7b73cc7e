"""The SAM template lints clean, translates to CloudFormation that also lints clean, and routes
as we expect. (sam validate, checkov and sam build run in `make check-infra`, own venvs.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from local.cfn import translate_template
from local.template import TEMPLATE_PATH


def translate() -> dict[str, Any]:
    return translate_template()


@pytest.fixture(autouse=True)
def _region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def _cfn_lint(path: Path) -> subprocess.CompletedProcess[str]:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    return subprocess.run([str(cfn_lint), str(path)], capture_output=True, text=True, check=False)  # noqa: S603


def test_cfn_lint_passes_on_the_source_template() -> None:
    result = _cfn_lint(TEMPLATE_PATH)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_passes_on_the_translated_template(tmp_path: Path) -> None:
    path = tmp_path / "translated.json"
    path.write_text(json.dumps(translate()))
    result = _cfn_lint(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_translated_api_streams_chat_and_proxies_the_rest_to_the_alb() -> None:
    cfn = translate()
    api = next(r for r in cfn["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi")
    paths = api["Properties"]["Body"]["paths"]
    for path in (
        "/v1/chat/completions",
        "/bedrock/model/{modelId}/converse-stream",
        "/bedrock/model/{modelId}/converse",
    ):
        integration = paths[path]["post"]["x-amazon-apigateway-integration"]
        assert integration["responseTransferMode"] == "STREAM", path
        assert integration["timeoutInMillis"] == 900000, path
        assert "response-streaming-invocations" in integration["uri"]["Fn::Sub"]
    proxy = paths["/{proxy+}"]["x-amazon-apigateway-any-method"]["x-amazon-apigateway-integration"]
    assert proxy["type"] == "http_proxy" and proxy["connectionType"] == "VPC_LINK"
    assert proxy["connectionId"] == {"Ref": "LiteLLMVpcLink"} and proxy["integrationTarget"] == {
        "Ref": "LiteLLMLoadBalancer"
    }
