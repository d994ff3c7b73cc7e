"""bench/litellm_cost.py: each variant is the production config with exactly its settings changed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.litellm_cost import LITELLM_VARIANTS, Variant, selected_variants, variant_config, variant_environment

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
    hook = {"LITELLM_WORKER_STARTUP_HOOKS": "gateway_worker_hooks:freeze_startup_heap", "PYTHONPATH": "/hooks"}
    stack_env = {"LITELLM_LOG": "DEBUG", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": "6379", "DATABASE_URL": "db", **hook}
    shipped = variant_environment(stack_env, LITELLM_VARIANTS[0], tmp_path)
    assert shipped == {**stack_env, "LITELLM_LOG": "WARNING"}  # template.yaml's; httptools from the venv
    before = variant_environment(stack_env, LITELLM_VARIANTS[1], tmp_path)
    assert before["LITELLM_LOG"] == "INFO" and before["REDIS_HOST"] == "127.0.0.1"
    # h11's shadow ahead of the hook's folder, which the variant keeps but does not run
    shadows = tmp_path / "shadows" / "before-issue-17--routing--prices--INFO-logs--h11--no-heap-freeze-"
    assert before["PYTHONPATH"] == f"{shadows}{os.pathsep}/hooks"
    assert before["LITELLM_WORKER_STARTUP_HOOKS"] == ""
    without_redis = variant_environment(stack_env, Variant("x", redis=False), tmp_path)
    assert without_redis == {"LITELLM_LOG": "WARNING", "DATABASE_URL": "db", **hook}


def test_the_h11_variant_hides_httptools_from_uvicorn(tmp_path: Path) -> None:
    env = variant_environment({}, Variant("x", http="h11"), tmp_path)
    probe = "from uvicorn.protocols.http.auto import AutoHTTPProtocol as P; print(P.__name__)"
    chosen = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", probe], env={**os.environ, **env}, capture_output=True, text=True, check=True
    )
    assert chosen.stdout.strip() == "H11Protocol"


def _run(probe: str, env: dict[str, str]) -> str:
    result = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", probe], env={**os.environ, **env}, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_the_asyncio_variant_gives_uvicorn_asyncios_loop_for_uvloop(tmp_path: Path) -> None:
    env = variant_environment({}, Variant("x", loop="asyncio"), tmp_path)
    probe = "import asyncio, uvloop; print(type(uvloop.new_event_loop()) is asyncio.new_event_loop().__class__)"
    assert _run(probe, env) == "True"


def test_a_hidden_submodule_refuses_to_import_and_its_package_stays(tmp_path: Path) -> None:
    site = tmp_path / "site" / "nspkg"  # a namespace package (PEP 420), as opentelemetry is
    (site / "sdk").mkdir(parents=True)
    (site / "sdk" / "__init__.py").write_text("")
    (site / "api.py").write_text("VALUE = 1\n")
    env = variant_environment({}, Variant("x", without=("nspkg.sdk",)), tmp_path / "data")
    env["PYTHONPATH"] += os.pathsep + str(site.parent)
    probe = "import nspkg.api\ntry:\n import nspkg.sdk\nexcept ImportError as e:\n print(nspkg.api.VALUE, e)"
    assert _run(probe, env) == "1 nspkg.sdk hidden by the bench"


def test_a_variant_adds_its_environment_and_one_on_another_venv_runs_only_when_given() -> None:
    assert variant_environment({"A": "1"}, Variant("x", env={"B": "2"}), Path())["B"] == "2"
    other_venv = {v.name: v.venv_variable for v in LITELLM_VARIANTS if v.venv_variable}
    assert other_venv and not other_venv.keys() & {v.name for v in selected_variants({})}
    given = {v.name for v in selected_variants(dict.fromkeys(other_venv.values(), "/venv"))}
    assert given == {v.name for v in LITELLM_VARIANTS}
