"""LiteLLM's logging integrations from the stack's parameters (ecs_litellm/callbacks.py): off
unless configured, content only with LogContent, applied once however often the task restarts,
and the same function for the local stack's config."""

from __future__ import annotations

from typing import Any

from local.litellm_config import build_config, logging_integrations

callbacks: Any = logging_integrations()

ALL_ON = {
    "LANGFUSE_PUBLIC_KEY": "pk-lf-1",
    "LANGFUSE_SECRET_KEY": "sk-lf-1",
    "LANGSMITH_API_KEY": "ls-1",
    "GATEWAY_REQUEST_LOG_BUCKET": "audit-bucket",
    "AWS_REGION_NAME": "eu-west-1",
    "OTEL_ENDPOINT": "https://collector.example.com/v1/traces",
}


def test_nothing_is_on_by_default() -> None:
    assert callbacks.logging_settings({}) == {}
    assert callbacks.logging_settings({"LANGFUSE_PUBLIC_KEY": "pk-only"}) == {}  # both Langfuse keys needed


def test_every_integration_from_its_settings() -> None:
    assert callbacks.logging_settings(ALL_ON) == {
        "success_callback": ["langfuse", "langsmith", "s3_v2"],
        "failure_callback": ["langfuse", "langsmith", "s3_v2"],
        "callbacks": ["otel"],
        "s3_callback_params": {
            "s3_bucket_name": "audit-bucket",
            "s3_region_name": "eu-west-1",
            "s3_path": "litellm-logs",
        },
        "turn_off_message_logging": True,  # LogContent is off
    }
    assert callbacks.logging_settings({**ALL_ON, "GATEWAY_LOG_CONTENT": "true"})["turn_off_message_logging"] is False


def test_applying_twice_changes_nothing_and_keeps_what_the_config_had() -> None:
    config: dict[str, Any] = {"litellm_settings": {"telemetry": False, "success_callback": ["langfuse"]}}
    once = callbacks.apply(config, ALL_ON)
    twice = callbacks.apply(once, ALL_ON)
    assert twice["litellm_settings"]["success_callback"] == ["langfuse", "langsmith", "s3_v2"]
    assert twice["litellm_settings"]["telemetry"] is False


def test_the_local_config_takes_the_same_integrations() -> None:
    config = build_config("http://127.0.0.1:9", {"LANGSMITH_API_KEY": "ls-1"})
    assert config["litellm_settings"]["success_callback"] == ["langsmith"]
    assert "success_callback" not in build_config("http://127.0.0.1:9", {})["litellm_settings"]
