"""LiteLLM's logging integrations, switched on by the stack's parameters (template.yaml).

The task gets an integration's settings and keys (from Secrets Manager) only when its parameter
is set; this turns what is present into LiteLLM ``litellm_settings``, and the entrypoint applies
it to the config before LiteLLM starts. The local stack applies the same function
(local/litellm_config.py), so local and cloud cannot drift.

    Langfuse       LANGFUSE_PUBLIC_KEY + LANGFUSE_SECRET_KEY (+ LANGFUSE_HOST)
    LangSmith      LANGSMITH_API_KEY (+ LANGSMITH_PROJECT)
    S3             GATEWAY_REQUEST_LOG_BUCKET (+ AWS_REGION_NAME); objects under litellm-logs/
    OpenTelemetry  OTEL_ENDPOINT (+ OTEL_EXPORTER, OTEL_HEADERS)

Prompts and completions reach them only with GATEWAY_LOG_CONTENT=true (the LogContent
parameter); otherwise LiteLLM's ``turn_off_message_logging`` sends metadata, usage and cost only.

Usage: python callbacks.py <config.yaml>   (rewrites it in place; running it twice changes nothing)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["S3_PREFIX", "apply", "logging_settings"]

S3_PREFIX = "litellm-logs"


def _on(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def logging_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """The ``litellm_settings`` entries for the integrations ``env`` configures."""
    logged: list[str] = []  # success and failure callbacks
    callbacks: list[str] = []
    settings: dict[str, Any] = {}
    if env.get("LANGFUSE_PUBLIC_KEY") and env.get("LANGFUSE_SECRET_KEY"):
        logged.append("langfuse")
    if env.get("LANGSMITH_API_KEY"):
        logged.append("langsmith")
    if env.get("GATEWAY_REQUEST_LOG_BUCKET"):
        logged.append("s3_v2")
        s3 = {
            "s3_bucket_name": env["GATEWAY_REQUEST_LOG_BUCKET"],
            "s3_region_name": env.get("AWS_REGION_NAME") or env.get("AWS_REGION") or "us-east-1",
            "s3_path": S3_PREFIX,
        }
        if env.get("GATEWAY_REQUEST_LOG_S3_ENDPOINT"):  # a local S3 (tests); AWS's own otherwise
            s3["s3_endpoint_url"] = env["GATEWAY_REQUEST_LOG_S3_ENDPOINT"]
        settings["s3_callback_params"] = s3
    if env.get("OTEL_ENDPOINT"):
        callbacks.append("otel")
    if logged:
        settings["success_callback"] = logged
        settings["failure_callback"] = list(logged)
    if callbacks:
        settings["callbacks"] = callbacks
    if logged or callbacks:
        settings["turn_off_message_logging"] = not _on(env.get("GATEWAY_LOG_CONTENT"))
    return settings


def apply(config: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """``config`` with the integrations of ``env`` added to what it already lists."""
    settings = config.setdefault("litellm_settings", {}) or {}
    config["litellm_settings"] = settings
    for name, value in logging_settings(env).items():
        if isinstance(value, list):
            present = settings.get(name) or []
            settings[name] = [*present, *(v for v in value if v not in present)]
        else:
            settings[name] = value
    return config


def main() -> None:
    import yaml  # LiteLLM's image has PyYAML (LiteLLM reads its config with it)

    path = Path(sys.argv[1])
    config = yaml.safe_load(path.read_text()) or {}
    path.write_text(yaml.safe_dump(apply(config, os.environ), sort_keys=False))


if __name__ == "__main__":
    main()
