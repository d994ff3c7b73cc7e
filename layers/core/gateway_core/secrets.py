"""The LiteLLM master key: Secrets Manager in AWS, the environment locally.

Read once per warm function and kept in memory only; it is never logged or returned. Fetching
is a blocking boto3 call, so async code awaits ``get_master_key`` (a worker thread).
"""

from __future__ import annotations

import threading

from starlette.concurrency import run_in_threadpool

from gateway_core import tracing
from gateway_core.errors import ServiceUnavailableError
from gateway_core.settings import get_settings

__all__ = ["get_master_key", "master_key"]

_lock = threading.Lock()
_value: str | None = None


def _with_prefix(value: str) -> str:
    """The stack's secret holds the random part; LiteLLM's key is "sk-" + it (ecs_litellm/entrypoint.sh)."""
    return value if not value or value.startswith("sk-") else f"sk-{value}"


def master_key() -> str:
    """The master key, or "" when this deployment configured none."""
    global _value
    if _value is not None:
        return _value
    with _lock:
        if _value is None:
            settings = get_settings()
            if settings.master_key_secret_arn:
                import boto3  # lazy: most invocations never need it
                from botocore.exceptions import BotoCoreError, ClientError

                tracing.trace_aws_calls()
                try:
                    client = boto3.client("secretsmanager")
                    secret = client.get_secret_value(SecretId=settings.master_key_secret_arn)
                except (BotoCoreError, ClientError) as exc:
                    raise ServiceUnavailableError("The gateway could not read its master key") from exc
                _value = _with_prefix(str(secret["SecretString"]).strip())
            else:
                _value = settings.master_key
    return _value


async def get_master_key() -> str:
    return _value if _value is not None else await run_in_threadpool(master_key)
