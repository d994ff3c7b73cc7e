"""bench/litellm_cost.py: each variant is the production config with exactly its settings changed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.litellm_cost import LITELLM_VARIANTS, Variant, variant_config, variant_environment

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


def test_variants_run_as_the_task_does_unless_they_say_otherwise(tmp_path: Path) -> None:
    stack_env = {"LITELLM_LOG": "DEBUG", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": "6379", "DATABASE_URL": "db"}
    shipped = variant_environment(stack_env, LITELLM_VARIANTS[0], tmp_path)
    assert shipped == {**stack_env, "LITELLM_LOG": "WARNING"}  # template.yaml's; httptools from the venv
    before = variant_environment(stack_env, LITELLM_VARIANTS[1], tmp_path)
    assert before["LITELLM_LOG"] == "INFO" and before["REDIS_HOST"] == "127.0.0.1"
    without_redis = variant_environment(stack_env, Variant("x", redis=False), tmp_path)
    assert without_redis == {"LITELLM_LOG": "WARNING", "DATABASE_URL": "db"}


def test_the_h11_variant_hides_httptools_from_uvicorn(tmp_path: Path) -> None:
    env = variant_environment({}, Variant("x", http="h11"), tmp_path)
    probe = "from uvicorn.protocols.http.auto import AutoHTTPProtocol as P; print(P.__name__)"
    chosen = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", probe], env={**os.environ, **env}, capture_output=True, text=True, check=True
    )
    assert chosen.stdout.strip() == "H11Protocol"
