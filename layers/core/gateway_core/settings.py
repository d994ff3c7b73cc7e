"""Settings shared by every function, read once from the environment.

This module is the only place that knows the environment variable names.

| variable                              | default                 | meaning                                   |
|---------------------------------------|-------------------------|-------------------------------------------|
| GATEWAY_LITELLM_BASE_URL              | http://127.0.0.1:4000   | LiteLLM proxy (the private ALB in AWS)    |
| GATEWAY_LITELLM_CONNECT_TIMEOUT_S     | 5                       | TCP connect budget; past it we answer 502 |
| GATEWAY_LITELLM_READ_TIMEOUT_S        | 600                     | silence allowed from LiteLLM; then 504    |
| GATEWAY_LITELLM_MAX_CONNECTIONS       | 100                     | pooled connections per process            |
| GATEWAY_LOG_CONTENT                   | false                   | log prompts and completions (never keys)  |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["Settings", "get_settings"]


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    litellm_base_url: str = "http://127.0.0.1:4000"
    litellm_connect_timeout_s: float = 5.0
    litellm_read_timeout_s: float = 600.0
    litellm_max_connections: int = 100
    log_content: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        default = cls()
        return cls(
            litellm_base_url=environ.get("GATEWAY_LITELLM_BASE_URL", default.litellm_base_url).rstrip("/"),
            litellm_connect_timeout_s=float(
                environ.get("GATEWAY_LITELLM_CONNECT_TIMEOUT_S", default.litellm_connect_timeout_s)
            ),
            litellm_read_timeout_s=float(environ.get("GATEWAY_LITELLM_READ_TIMEOUT_S", default.litellm_read_timeout_s)),
            litellm_max_connections=int(
                environ.get("GATEWAY_LITELLM_MAX_CONNECTIONS", default.litellm_max_connections)
            ),
            log_content=_flag(environ.get("GATEWAY_LOG_CONTENT")),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (environment read once per warm function)."""
    return Settings.from_env()
