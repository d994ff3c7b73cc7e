"""The local LiteLLM config: ecs_litellm/config.yaml plus the fake provider.

Bedrock models stay in the list (they answer when AWS credentials are in the environment);
external providers are added when their key is set; Redis is used only when REDIS_HOST is set.
"""

from __future__ import annotations

import copy
import importlib.util
import os
from pathlib import Path
from typing import Any

import yaml

from local.template import REPO_ROOT

__all__ = [
    "BLOCKED_WORD",
    "FAKE_MODELS",
    "LOCAL_GUARDRAIL",
    "NARROW_MODEL",
    "build_config",
    "logging_integrations",
    "write_config",
]

CLOUD_CONFIG = REPO_ROOT / "ecs_litellm" / "config.yaml"
# Fake model costs are set so budgets trigger (LiteLLM prices unknown models at 0). In model_info,
# which LiteLLM registers once at start: in litellm_params it registers them again on every request,
# which empties its model-price caches each time (ecs_litellm/config.yaml, x-custom-pricing).
# The fakes cache nothing: their cache prices are 0, said outright (else LiteLLM warns on every start).
_COSTS = {
    "input_cost_per_token": 0.000001,
    "output_cost_per_token": 0.000002,
    "cache_creation_input_token_cost": 0.0,
    "cache_read_input_token_cost": 0.0,
}
FAKE_MODELS = ("fake-gpt", "fake-embedding", "fake-gpt-narrow")
# One request in flight at a time (LiteLLM answers 429 past it): the deployment the priority tests
# saturate, behind the gateway's admission queue of the same size (GATEWAY_PRIORITY_LIMITS).
NARROW_MODEL = "fake-gpt-narrow"
LOCAL_GUARDRAIL = {"identifier": "localguardrail", "version": "1"}
BLOCKED_WORD = "forbidden-topic"
_REAL_PROVIDERS = {
    "OPENAI_API_KEY": ("gpt-4.1-mini", "openai/gpt-4.1-mini"),
    "ANTHROPIC_API_KEY": ("claude-sonnet-4-5", "anthropic/claude-sonnet-4-5-20250929"),
    "GEMINI_API_KEY": ("gemini-2.5-flash", "gemini/gemini-2.5-flash"),
}


def build_config(fake_url: str, environ: dict[str, str] | None = None) -> dict[str, Any]:
    env = dict(os.environ if environ is None else environ)
    config: dict[str, Any] = yaml.safe_load(CLOUD_CONFIG.read_text())
    # The cloud's per-deployment cooldown policy (tenant isolation of failures) on the models added here too.
    failures = config.get("x-tenant-isolated-failures") or {}
    config["model_list"] = [
        {
            "model_name": "fake-gpt",
            "litellm_params": {"model": "openai/fake-gpt", "api_base": f"{fake_url}/v1", "api_key": "fake"},
            "model_info": {**copy.deepcopy(failures), **_COSTS},
        },
        {
            "model_name": "fake-embedding",
            "litellm_params": {
                "model": "openai/fake-embedding",
                "api_base": f"{fake_url}/v1",
                "api_key": "fake",
            },
            "model_info": {**copy.deepcopy(failures), **_COSTS},
        },
        {
            "model_name": NARROW_MODEL,
            "litellm_params": {
                "model": "openai/fake-gpt",
                "api_base": f"{fake_url}/v1",
                "api_key": "fake",
                "max_parallel_requests": 1,
            },
            "model_info": {**copy.deepcopy(failures), **_COSTS},
        },
        *config["model_list"],
        *[
            {
                "model_name": name,
                "litellm_params": {"model": model, "api_key": f"os.environ/{key}"},
                "model_info": copy.deepcopy(failures),
            }
            for key, (name, model) in _REAL_PROVIDERS.items()
            if env.get(key)
        ],
    ]
    # A guardrail that needs no AWS (LiteLLM's keyword filter), serving the Bedrock guardrail
    # LOCAL_GUARDRAIL on the Bedrock interface (guardrailConfig), as a Bedrock Guardrail would in the cloud.
    config.setdefault("guardrails", []).append(
        {
            "guardrail_name": "local-blocked-words",
            "litellm_params": {
                "guardrail": "litellm_content_filter",
                "mode": "pre_call",
                "blocked_words": [{"keyword": BLOCKED_WORD, "action": "BLOCK"}],
            },
            "guardrail_info": {"bedrock_guardrail": {**LOCAL_GUARDRAIL, "blocked_message": "Blocked by policy."}},
        }
    )
    settings = config.setdefault("litellm_settings", {})
    # Let per-request x-fake-* knobs reach the fake provider through LiteLLM.
    settings["model_group_settings"] = {"forward_client_headers_to_llm_api": list(FAKE_MODELS)}
    router = config.setdefault("router_settings", {})
    # Redis only when asked for (REDIS_HOST): a shared one on 127.0.0.1:6379 would carry rate-limit
    # counters across unrelated local stacks (a second checkout, the test stack, the bench).
    if env.get("REDIS_HOST"):
        router.update(
            redis_host=env["REDIS_HOST"],
            redis_port=int(env.get("REDIS_PORT", "6379")),
            redis_password=env.get("REDIS_PASSWORD") or None,
        )
    else:
        for key in ("redis_host", "redis_port", "redis_password"):
            router.pop(key, None)
    config.setdefault("general_settings", {})["proxy_batch_write_at"] = 2  # spend visible quickly
    return logging_integrations().apply(config, env)


def logging_integrations() -> Any:
    """ecs_litellm/callbacks.py, the image's own step (a script there, not a package)."""
    spec = importlib.util.spec_from_file_location("gateway_callbacks", REPO_ROOT / "ecs_litellm" / "callbacks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_config(path: Path, fake_url: str) -> dict[str, Any]:
    config = build_config(fake_url)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return config
