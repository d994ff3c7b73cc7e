"""bench/litellm_cost.py: each variant is the production config with exactly its settings changed."""

from __future__ import annotations

from bench.litellm_cost import LITELLM_VARIANTS, Variant, variant_config

BASE = {
    "model_list": [
        {
            "model_name": "fake-gpt",
            "litellm_params": {"model": "openai/fake-gpt"},
            "model_info": {"id": "a", "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},
        }
    ],
    "router_settings": {"routing_strategy": "simple-shuffle", "num_retries": 2},
    "general_settings": {"master_key": "k"},
}


def test_the_shipped_variant_is_the_config_itself() -> None:
    assert variant_config(BASE, LITELLM_VARIANTS[0]) == {**BASE, "litellm_settings": {}}


def test_previous_config_moves_prices_back_and_restores_the_old_routing() -> None:
    config = variant_config(BASE, LITELLM_VARIANTS[1])
    assert config["router_settings"] == {
        "routing_strategy": "usage-based-routing-v2",
        "num_retries": 2,
        "enable_pre_call_checks": True,
    }
    assert config["model_list"][0]["litellm_params"] == {
        "model": "openai/fake-gpt",
        "input_cost_per_token": 1e-06,
        "output_cost_per_token": 2e-06,
    }
    assert config["model_list"][0]["model_info"] == {"id": "a"}
    assert BASE["model_list"][0]["model_info"]["input_cost_per_token"] == 1e-06  # type: ignore[index]  # base untouched


def test_an_overlay_changes_only_its_own_settings() -> None:
    config = variant_config(BASE, Variant("x", general={"disable_spend_logs": True}))
    assert config["general_settings"] == {"master_key": "k", "disable_spend_logs": True}
    assert config["router_settings"] == BASE["router_settings"]
