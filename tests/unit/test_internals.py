"""LiteLLM's and its providers' addresses and plumbing never reach a client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gateway_core import internals
from gateway_core.converse.errors import from_litellm_error
from gateway_core.forwarding import relay_headers
from gateway_core.internals import public_message
from gateway_core.settings import get_settings


@pytest.fixture(autouse=True)
def litellm_at(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("GATEWAY_LITELLM_BASE_URL", "http://10.0.7.12:4000")
    get_settings.cache_clear()
    internals._litellm_netloc.cache_clear()
    yield
    get_settings.cache_clear()
    internals._litellm_netloc.cache_clear()


def test_relayed_headers_lose_addresses_and_provider_headers() -> None:
    upstream = [
        ("content-type", "application/json"),
        ("x-litellm-call-id", "c1"),
        ("x-litellm-model-api-base", "https://api.openai.com/v1"),
        ("x-litellm-version", "1.108.7"),
        ("llm_provider-x-request-id", "req_1"),
        ("llm_provider-openai-organization", "org-1"),
        ("x-debug", "from http://10.0.7.12:4000/health"),
        ("location", "http://10.0.7.12:4000/ui/login?next=/ui"),
        ("server", "uvicorn"),
        ("date", "Mon, 30 Nov 2026 15:00:00 GMT"),
    ]
    assert relay_headers(upstream) == [
        ("content-type", "application/json"),
        ("x-litellm-call-id", "c1"),
        ("location", "/ui/login?next=/ui"),
    ]


def test_redirects_elsewhere_stay_as_they_are() -> None:
    assert relay_headers([("location", "https://example.okta.com/authorize")]) == [
        ("location", "https://example.okta.com/authorize")
    ]


def test_repeated_headers_are_relayed_in_order_and_only_a_value_naming_litellm_is_dropped() -> None:
    upstream = [
        ("vary", "Origin"),
        ("set-cookie", "a=1; Path=/"),
        ("x-note", "see HTTP://10.0.7.12:4000 for more"),
        ("set-cookie", "b=2; Path=/"),
        ("x-near", "10.0.7.1"),
        ("x-miss", "2:4000"),  # the address across two values is in neither: both stay
        ("vary", "Accept"),
    ]
    assert relay_headers(upstream) == [
        ("vary", "Origin"),
        ("set-cookie", "a=1; Path=/"),
        ("set-cookie", "b=2; Path=/"),
        ("x-near", "10.0.7.1"),
        ("x-miss", "2:4000"),
        ("vary", "Accept"),
    ]


@pytest.mark.parametrize(
    ("raw", "public"),
    [
        (
            "litellm.BadRequestError: OpenAIException - bad temperature\nReceived Model Group=fake-gpt\n"
            "Available Model Group Fallbacks=None LiteLLM Retried: 2 times, LiteLLM Max Retries: 2",
            "OpenAIException - bad temperature",
        ),
        ("litellm.APIConnectionError: Connection error. api_base=http://10.0.7.12:9999/v1", "Connection error"),
        (
            "Unable to find token in cache or `LiteLLM_VerificationTokenTable`",
            "Unable to find token in cache or the key store",
        ),
        ("route=/key/generate is not allowed for this key", "the route is not allowed for this key"),
        (
            "connect to 10.0.3.4:4000 failed (see https://internal.example/x)",
            "connect to <upstream> failed (see <upstream>)",
        ),
        ("litellm.RateLimitError: ", "The model provider refused the request"),
    ],
)
def test_messages_keep_the_reason_and_lose_the_plumbing(raw: str, public: str) -> None:
    assert public_message(raw) == public


def test_bedrock_errors_are_classified_on_the_raw_message_and_shown_scrubbed() -> None:
    error = from_litellm_error(400, {"error": {"message": "litellm.BudgetExceededError: Budget has been exceeded!"}})
    assert (error.status, error.error_type) == (403, "AccessDeniedException")
    assert error.message == "Budget exhausted: Budget has been exceeded!"
