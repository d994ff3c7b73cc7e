"""One parser for every on/off switch, ours and Powertools' alike."""

from __future__ import annotations

import pytest
from aws_lambda_powertools.shared.functions import strtobool
from gateway_core.settings import Settings, flag
from user_keys.config import OnboardingConfig

TRUE = ["1", "y", "yes", "t", "true", "on", " TRUE ", "On"]
FALSE = ["0", "n", "no", "f", "false", "off", "OFF"]


@pytest.mark.parametrize("value", TRUE + FALSE)
def test_flag_agrees_with_powertools(value: str) -> None:
    assert flag(value) is bool(strtobool(value.strip()))


@pytest.mark.parametrize("value", [None, "", "enabled", "2"])
def test_anything_else_is_off(value: str | None) -> None:
    assert flag(value) is False


@pytest.mark.parametrize("value", TRUE)
def test_every_switch_reads_the_same(value: str) -> None:
    assert Settings.from_env({"GATEWAY_LOG_CONTENT": value}).log_content is True
    assert OnboardingConfig.from_env({"OKTA_ALLOW_HTTP_ISSUER": value}).allow_http_issuer is True


def test_switches_are_off_by_default() -> None:
    assert Settings.from_env({}).log_content is False
    assert OnboardingConfig.from_env({}).allow_http_issuer is False
