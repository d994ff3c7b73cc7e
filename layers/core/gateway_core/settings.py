"""Settings shared by every function, read once from the environment.

This module is the only place that knows the environment variable names.

| variable                              | default                 | meaning                                   |
|---------------------------------------|-------------------------|-------------------------------------------|
| GATEWAY_LITELLM_BASE_URL              | http://127.0.0.1:4000   | LiteLLM proxy (the private ALB in AWS)    |
| GATEWAY_LITELLM_CONNECT_TIMEOUT_S     | 5                       | TCP connect budget; past it we answer 502 |
| GATEWAY_LITELLM_READ_TIMEOUT_S        | 600                     | silence allowed from LiteLLM; then 504    |
| GATEWAY_LITELLM_MAX_CONNECTIONS       | 100                     | pooled connections per process            |
| GATEWAY_LITELLM_KEEPALIVE_S           | 4                       | idle life of a pooled connection; keep it |
|                                       |                         | below LiteLLM's (5) and the ALB's (900)   |
| GATEWAY_LOG_CONTENT                   | false                   | log prompts and completions (never keys)  |
| GATEWAY_HISTORY_TABLE                 | (unset: history off)    | DynamoDB table of chat history            |
| GATEWAY_HISTORY_RETENTION_DAYS        | 90                      | TTL of each stored message                |
| GATEWAY_IDENTITY_CACHE_TTL_S          | 5                       | how long a validated key is trusted       |
| GATEWAY_MASTER_KEY_SECRET_ARN         | (unset)                 | Secrets Manager secret of the master key  |
| GATEWAY_LITELLM_MASTER_KEY            | (unset)                 | the master key itself (local runs only)   |
| GATEWAY_PROMPT_DRAFT_TTL_S            | 60                      | cache life of unversioned managed prompts |
| GATEWAY_PRIORITY_REDIS_URL            | (unset: no admission)   | Redis of the priority admission queues    |
| GATEWAY_PRIORITY_REDIS_AUTH_SECRET_ARN| (unset: no AUTH)        | Secrets Manager secret of its AUTH token  |
| GATEWAY_PRIORITY_LIMITS               | {}                      | JSON {model: requests in flight at once}  |
| GATEWAY_PRIORITY_KEY_PREFIX           | gateway:admission       | prefix of the queues' Redis keys          |
| GATEWAY_PRIORITY_MAX_WAIT_S           | 60                      | longest wait in a queue; then 503         |
| GATEWAY_PROMPT_REGIONS                | (the function's region) | regions prompt ARNs may name, comma-      |
|                                       |                         | separated (AWS_REGION when unset)         |
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

__all__ = ["Settings", "flag", "get_settings"]

# What Powertools' own strtobool takes as true (it reads POWERTOOLS_* too), so every switch of
# ours and every POWERTOOLS_* switch means the same thing; anything else is false.
_TRUE = frozenset({"1", "y", "yes", "t", "true", "on"})


def flag(value: str | None) -> bool:
    """An on/off environment value: the one parser every module uses."""
    return (value or "").strip().lower() in _TRUE


def _limits(raw: str) -> dict[str, int]:
    """GATEWAY_PRIORITY_LIMITS: a JSON object of model name to a positive whole number."""
    limits = json.loads(raw) if raw.strip() else {}
    if not isinstance(limits, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in limits.values()
    ):
        raise ValueError("GATEWAY_PRIORITY_LIMITS must be a JSON object of model name to a positive integer")
    return limits


def _regions(environ: Mapping[str, str]) -> frozenset[str]:
    listed = environ.get("GATEWAY_PROMPT_REGIONS") or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    return frozenset(region.strip() for region in (listed or "").split(",") if region.strip())


@dataclass(frozen=True)
class Settings:
    litellm_base_url: str = "http://127.0.0.1:4000"
    litellm_connect_timeout_s: float = 5.0
    litellm_read_timeout_s: float = 600.0
    litellm_max_connections: int = 100
    litellm_keepalive_s: float = 4.0
    log_content: bool = False
    history_table: str = ""
    history_retention_days: float = 90.0
    identity_cache_ttl_s: float = 5.0
    master_key_secret_arn: str = ""
    master_key: str = field(default="", repr=False)
    prompt_draft_ttl_s: float = 60.0
    priority_redis_url: str = field(default="", repr=False)  # may carry a password
    priority_redis_auth_secret_arn: str = ""
    priority_limits: Mapping[str, int] = field(default_factory=dict)
    priority_key_prefix: str = "gateway:admission"
    priority_max_wait_s: float = 60.0
    prompt_regions: frozenset[str] = frozenset()

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
            litellm_keepalive_s=float(environ.get("GATEWAY_LITELLM_KEEPALIVE_S", default.litellm_keepalive_s)),
            log_content=flag(environ.get("GATEWAY_LOG_CONTENT")),
            history_table=environ.get("GATEWAY_HISTORY_TABLE", ""),
            history_retention_days=float(environ.get("GATEWAY_HISTORY_RETENTION_DAYS", default.history_retention_days)),
            identity_cache_ttl_s=float(environ.get("GATEWAY_IDENTITY_CACHE_TTL_S", default.identity_cache_ttl_s)),
            master_key_secret_arn=environ.get("GATEWAY_MASTER_KEY_SECRET_ARN", ""),
            master_key=environ.get("GATEWAY_LITELLM_MASTER_KEY", ""),
            prompt_draft_ttl_s=float(environ.get("GATEWAY_PROMPT_DRAFT_TTL_S", default.prompt_draft_ttl_s)),
            priority_redis_url=environ.get("GATEWAY_PRIORITY_REDIS_URL", ""),
            priority_redis_auth_secret_arn=environ.get("GATEWAY_PRIORITY_REDIS_AUTH_SECRET_ARN", ""),
            priority_limits=_limits(environ.get("GATEWAY_PRIORITY_LIMITS", "")),
            priority_key_prefix=environ.get("GATEWAY_PRIORITY_KEY_PREFIX", default.priority_key_prefix),
            priority_max_wait_s=float(environ.get("GATEWAY_PRIORITY_MAX_WAIT_S", default.priority_max_wait_s)),
            prompt_regions=_regions(environ),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (environment read once per warm function)."""
    return Settings.from_env()
