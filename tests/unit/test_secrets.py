"""The master key from Secrets Manager (moto in process): read once, prefixed like LiteLLM's."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from gateway_core import secrets
from gateway_core.settings import get_settings


@pytest.fixture
def secret_arn(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.delenv("GATEWAY_LITELLM_MASTER_KEY", raising=False)
    arn = boto3.client("secretsmanager").create_secret(Name="master", SecretString="RandomPart123")["ARN"]
    monkeypatch.setenv("GATEWAY_MASTER_KEY_SECRET_ARN", arn)
    get_settings.cache_clear()
    monkeypatch.setattr(secrets, "_value", None)
    yield arn
    get_settings.cache_clear()


def test_the_secret_is_read_once_and_prefixed(secret_arn: str) -> None:
    assert secrets.master_key() == "sk-RandomPart123"
    boto3.client("secretsmanager").update_secret(SecretId=secret_arn, SecretString="changed")
    assert secrets.master_key() == "sk-RandomPart123"  # the warm function keeps what it read
