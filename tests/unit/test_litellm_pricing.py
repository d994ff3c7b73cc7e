"""Custom model prices live in model_info, never in litellm_params (issue 17).

LiteLLM registers a deployment's litellm_params prices again on every request
(litellm/main.py, _register_custom_pricing_for_request), which empties its model-price caches and
rebuilds its case-insensitive price map (~2,500 entries) per request; model_info prices are
registered once, when the router is built. Budgets still need the price: the fake models keep it.
"""

from __future__ import annotations

from typing import Any

import yaml

from local.litellm_config import CLOUD_CONFIG, FAKE_MODELS, build_config

PRICE_FIELDS = {"input_cost_per_token", "output_cost_per_token"}


def _priced_params(config: dict[str, Any]) -> list[str]:
    return [m["model_name"] for m in config["model_list"] if PRICE_FIELDS & set(m["litellm_params"])]


def test_local_models_are_priced_in_model_info() -> None:
    config = build_config("http://127.0.0.1:1", environ={})
    assert _priced_params(config) == []
    prices = {
        m["model_name"]: {k: m["model_info"][k] for k in sorted(PRICE_FIELDS)}
        for m in config["model_list"]
        if m["model_name"] in FAKE_MODELS
    }
    expected = {"input_cost_per_token": 0.000001, "output_cost_per_token": 0.000002}
    assert prices == {"fake-gpt": expected, "fake-embedding": expected, "fake-gpt-narrow": expected}


def test_deployed_config_prices_nothing_per_request() -> None:
    config = yaml.safe_load(CLOUD_CONFIG.read_text())
    assert _priced_params(config) == []
    # The commented example of a priced model shows the cheap placement too.
    lines = CLOUD_CONFIG.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if "model_name: fake-gpt" in line)
    params, info = lines[at + 1], lines[at + 2]
    assert "litellm_params" in params and "input_cost_per_token" not in params
    assert "model_info" in info and "input_cost_per_token: 0.000001" in info
