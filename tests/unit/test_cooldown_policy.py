"""The tenant-isolation cooldown policy is on every deployment LiteLLM serves, in AWS and locally.

LiteLLM reads ``allowed_fails_policy`` per deployment (``model_info``) or falls back to cooling
a deployment down on a provider 401/404 (router_utils/cooldown_handlers.py), so a deployment
that lacks it lets one caller throttle the others. tests/integration/test_noisy_neighbours.py
shows the behaviour through both interfaces.
"""

from __future__ import annotations

from typing import Any

import yaml

from local.litellm_config import CLOUD_CONFIG, build_config

POLICY = {
    "AuthenticationErrorAllowedFails": 1_000_000_000,
    "NotFoundErrorAllowedFails": 1_000_000_000,
    "InternalServerErrorAllowedFails": 5,
    "BadGatewayErrorAllowedFails": 5,
    "ServiceUnavailableErrorAllowedFails": 5,
    "TimeoutErrorAllowedFails": 5,
    "RateLimitErrorAllowedFails": 5,
}


def _policies(config: dict[str, Any]) -> dict[str, Any]:
    return {m["model_name"]: (m.get("model_info") or {}).get("allowed_fails_policy") for m in config["model_list"]}


def test_every_deployed_model_carries_the_policy() -> None:
    config = yaml.safe_load(CLOUD_CONFIG.read_text())
    policies = _policies(config)
    assert "us.anthropic.claude-sonnet-4-5-20250929-v1:0" in policies  # the list was read
    assert all(policy == POLICY for policy in policies.values()), policies
    assert config["router_settings"]["cooldown_time"] == 5
    # one model_info object per deployment: LiteLLM writes each deployment's id into it
    infos = [id(m["model_info"]) for m in config["model_list"]]
    assert len(set(infos)) == len(infos)


def test_every_local_model_carries_it_too() -> None:
    config = build_config(
        "http://127.0.0.1:9", {"OPENAI_API_KEY": "x", "ANTHROPIC_API_KEY": "x", "GEMINI_API_KEY": "x"}
    )
    policies = _policies(config)
    assert {"fake-gpt", "fake-embedding", "gpt-4.1-mini", "claude-sonnet-4-5", "gemini-2.5-flash"} <= set(policies)
    assert all(policy == POLICY for policy in policies.values()), policies
    infos = [id(m["model_info"]) for m in config["model_list"]]
    assert len(set(infos)) == len(infos)
