"""The banner says which parts of the local stack use a Redis: none unless the shell names one
(REDIS_HOST for LiteLLM, GATEWAY_PRIORITY_REDIS_URL for the gateway's priority queues), and
never prints a Redis password."""

from __future__ import annotations

import pytest

from local.stack import redis_notes


@pytest.fixture(autouse=True)
def no_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REDIS_HOST", "REDIS_PORT", "GATEWAY_PRIORITY_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)


def test_no_redis_unless_configured() -> None:
    assert redis_notes() == [
        "LiteLLM: not used (set REDIS_HOST to share rate limits across LiteLLM instances, as in AWS)",
        "priority queues: not used (set GATEWAY_PRIORITY_REDIS_URL to queue by priority, as in AWS)",
    ]


def test_each_configured_part_is_named_without_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_HOST", "127.0.0.1")
    monkeypatch.setenv("REDIS_PORT", "6380")
    monkeypatch.setenv("GATEWAY_PRIORITY_REDIS_URL", "rediss://:s3cret-token@cache.internal:6390/0")
    assert redis_notes() == [
        "LiteLLM's rate limits on 127.0.0.1:6380 (REDIS_HOST)",
        "priority queues on cache.internal:6390 (GATEWAY_PRIORITY_REDIS_URL)",
    ]
