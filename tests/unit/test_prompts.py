"""Managed-prompt rendering and merging (GetPrompt itself is exercised against the local stack)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from gateway_core import prompts
from gateway_core.errors import InvalidRequestError, PermissionDeniedError
from gateway_core.prompts import PromptRef, RenderedPrompt, apply_to_converse, apply_to_openai, render_prompt
from gateway_core.settings import get_settings

CHAT = {
    "name": "p",
    "defaultVariant": "v",
    "variants": [
        {
            "name": "v",
            "templateType": "CHAT",
            "modelId": "m",
            "templateConfiguration": {
                "chat": {
                    "system": [{"text": "Sys {{ who }}"}],
                    "messages": [
                        {
                            "role": "user",
                            "content": [{"text": "Hi {{who}}, {{who}}!"}, {"cachePoint": {"type": "default"}}],
                        }
                    ],
                    "inputVariables": [{"name": "who"}, {"name": "declared_only"}],
                }
            },
            "inferenceConfiguration": {"text": {"temperature": 0.5, "maxTokens": 10}},
        }
    ],
}


def render(arn: str, variables: Any) -> RenderedPrompt:
    return asyncio.run(render_prompt(arn, variables))


@pytest.fixture
def fetched(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[PromptRef]]:
    calls: list[PromptRef] = []

    def fake_fetch(ref: PromptRef) -> dict[str, Any]:
        calls.append(ref)
        return CHAT

    monkeypatch.setattr(prompts, "_fetch", fake_fetch)
    monkeypatch.delenv("GATEWAY_PROMPT_REGIONS", raising=False)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    get_settings.cache_clear()
    prompts._cache.clear()
    yield calls
    get_settings.cache_clear()


def test_prompt_regions_are_an_allow_list_checked_before_any_client(
    fetched: list[PromptRef], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(PermissionDeniedError, match=r"region eu-west-1 .* \(allowed: us-east-1;"):
        render("arn:aws:bedrock:eu-west-1:123456789012:prompt/ABCDEFGHIJ", {"who": {"text": "a"}})
    assert fetched == [] and prompts._clients == {}
    monkeypatch.setenv("GATEWAY_PROMPT_REGIONS", "eu-west-1, us-west-2")
    get_settings.cache_clear()
    assert render("arn:aws:bedrock:eu-west-1:123456789012:prompt/ABCDEFGHIJ:1", {"who": {"text": "a"}}).model_id == "m"
    with pytest.raises(PermissionDeniedError, match="allowed: eu-west-1, us-west-2"):
        render("arn:aws:bedrock:us-east-1:123456789012:prompt/ABCDEFGHIJ:1", {"who": {"text": "a"}})


def test_arn_parsing() -> None:
    ref = PromptRef.parse("arn:aws:bedrock:eu-west-1:123456789012:prompt/ABCDEFGHIJ:12")
    assert (ref.region, ref.prompt_id, ref.version, ref.identifier) == (
        "eu-west-1",
        "ABCDEFGHIJ",
        "12",
        "arn:aws:bedrock:eu-west-1:123456789012:prompt/ABCDEFGHIJ",
    )
    assert PromptRef.parse("arn:aws:bedrock:us-east-1:123456789012:prompt/ABCDEFGHIJ:DRAFT").version is None
    for bad in (
        "arn:aws:bedrock:us-east-1:123:prompt/ABCDEFGHIJ",
        "arn:aws:bedrock:us-east-1:123456789012:prompt/ABC",
        "arn:aws:bedrock:us-east-1:123456789012:prompt/ABCDEFGHIJ:v1",
    ):
        with pytest.raises(InvalidRequestError):
            PromptRef.parse(bad)


def test_chat_template_renders_both_spellings_and_caches_versions(fetched: list[PromptRef]) -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:prompt/ABCDEFGHIJ"
    rendered = render(arn + ":2", {"who": {"text": "Ann"}})
    assert rendered.system == [{"text": "Sys Ann"}]
    assert rendered.messages[0]["content"] == [{"text": "Hi Ann, Ann!"}, {"cachePoint": {"type": "default"}}]
    assert rendered.inference == {"temperature": 0.5, "maxTokens": 10}
    render(arn + ":2", {"who": {"text": "Bob"}})
    assert len(fetched) == 1  # a version never changes
    render(arn, {"who": {"text": "Bob"}})
    render(arn, {"who": {"text": "Bob"}})
    assert len(fetched) == 2  # the draft, cached for its short TTL


def test_variable_errors_name_the_variables(fetched: list[PromptRef]) -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:prompt/ABCDEFGHIJ"
    with pytest.raises(InvalidRequestError, match=r"missing: who.*expects: declared_only, who"):
        render(arn, {})
    with pytest.raises(InvalidRequestError, match="unknown: extra"):
        render(arn, {"who": {"text": "a"}, "extra": {"text": "b"}})


def test_request_values_win() -> None:
    prompt = RenderedPrompt(
        "m",
        [{"role": "user", "content": [{"text": "p"}]}],
        [{"text": "psys"}],
        None,
        {"temperature": 0.5, "maxTokens": 10},
        {"top_k": 5},
    )
    body = {
        "messages": [{"role": "user", "content": [{"text": "r"}]}],
        "inferenceConfig": {"temperature": 0.1},
        "system": [{"text": "rsys"}],
        "promptVariables": {},
    }
    merged = apply_to_converse(prompt, body)
    assert merged["inferenceConfig"] == {"temperature": 0.1, "maxTokens": 10} and merged["system"] == [{"text": "rsys"}]
    assert [m["content"][0]["text"] for m in merged["messages"]] == ["p", "r"] and merged[
        "additionalModelRequestFields"
    ] == {"top_k": 5}
    assert "promptVariables" not in merged

    openai = apply_to_openai(
        prompt, {"model": "arn", "messages": [{"role": "system", "content": "mine"}], "max_tokens": 3}
    )
    assert (
        openai["model"] == "m" and openai["max_tokens"] == 3 and openai["temperature"] == 0.5 and openai["top_k"] == 5
    )
    assert [m["role"] for m in openai["messages"]] == ["user", "system"]


@pytest.mark.parametrize("role", ["system", "developer"])
def test_a_request_with_its_own_instructions_replaces_the_prompts_system_text(role: str) -> None:
    prompt = RenderedPrompt("m", [{"role": "user", "content": [{"text": "p"}]}], [{"text": "psys"}], None, {}, {})
    mine = {"role": role, "content": "mine"}
    assert apply_to_openai(prompt, {"messages": [mine]})["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "p"}]},
        mine,
    ]
    kept = apply_to_openai(prompt, {"messages": [{"role": "user", "content": "r"}]})["messages"]
    assert [m["role"] for m in kept] == ["system", "user", "user"]


ARN = "arn:aws:bedrock:us-east-1:123456789012:prompt/ABCDEFGHIJ"


def serve(monkeypatch: pytest.MonkeyPatch, prompt: dict[str, Any]) -> None:
    monkeypatch.setattr(prompts, "_fetch", lambda ref: prompt)


def variant(template: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"variants": [{"name": "v", "modelId": "m", "templateConfiguration": template, **extra}]}


def test_a_text_template_renders_as_one_user_turn_with_its_cache_point(
    fetched: list[PromptRef], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = {"text": "Tell {{who}} about {{ topic }}", "cachePoint": {"type": "default"}}
    serve(monkeypatch, variant({"text": {**text, "inputVariables": [{"name": "who"}, {"name": "tone"}]}}))
    rendered = render(ARN, {"who": {"text": "Ann"}, "topic": {"text": "tides"}, "tone": {"text": "dry"}})
    content = [{"text": "Tell Ann about tides"}, {"cachePoint": {"type": "default"}}]
    assert (rendered.messages, rendered.system, rendered.tool_config) == (
        [{"role": "user", "content": content}],
        [],
        None,
    )
    with pytest.raises(InvalidRequestError) as refused:
        render(ARN, {"who": {"text": "Ann"}})
    assert refused.value.message == (
        f"Prompt variables do not match prompt {ARN} (missing: topic). The prompt expects: tone, topic, who."
    )


def test_variable_mismatches_are_listed_in_full(fetched: list[PromptRef], monkeypatch: pytest.MonkeyPatch) -> None:
    chat = {
        "chat": {"system": [{"text": "For {{team}}"}], "messages": [{"role": "user", "content": [{"text": "{{a}}"}]}]}
    }
    serve(monkeypatch, variant(chat))
    with pytest.raises(InvalidRequestError) as refused:
        render(ARN + ":1", {"x": {"text": "1"}, "y": {"text": "2"}})
    assert refused.value.message == (
        f"Prompt variables do not match prompt {ARN}:1 (missing: a, team; unknown: x, y). The prompt expects: a, team."
    )
    assert refused.value.param == "promptVariables"
    serve(monkeypatch, variant({"chat": {"messages": [{"role": "user", "content": [{"text": "fixed"}]}]}}))
    with pytest.raises(InvalidRequestError) as refused:
        render(ARN + ":2", {"x": {"text": "1"}})
    assert refused.value.message.endswith("(unknown: x). The prompt expects: no variables.")


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ({"variants": []}, f"Prompt {ARN} has no variant"),
        (variant({"chat": {}}, modelId=""), f"Prompt {ARN} names no model (set the variant's modelId)"),
        (variant({"flow": {}}, templateType="FLOW"), f"Prompt {ARN} has an unsupported template type FLOW"),
    ],
)
def test_a_prompt_the_gateway_cannot_run_names_the_model_field(
    fetched: list[PromptRef], monkeypatch: pytest.MonkeyPatch, prompt: dict[str, Any], message: str
) -> None:
    serve(monkeypatch, prompt)
    with pytest.raises(InvalidRequestError) as refused:
        render(ARN, {})
    assert (refused.value.message, refused.value.param) == (message, "model")


def test_a_region_outside_the_allow_list_names_the_model_field(
    fetched: list[PromptRef], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("GATEWAY_PROMPT_REGIONS", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    with pytest.raises(PermissionDeniedError) as refused:
        render(ARN, {})
    assert (refused.value.message, refused.value.param) == (
        "Prompts in region us-east-1 are not served by this gateway (allowed: none; GATEWAY_PROMPT_REGIONS)",
        "model",
    )


def test_the_prompt_cache_never_holds_more_than_its_limit(
    fetched: list[PromptRef], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prompts, "_CACHE_LIMIT", 2)
    for version in (1, 2, 3):
        render(f"{ARN}:{version}", {"who": {"text": "a"}})
    assert len(prompts._cache) <= 2 and len(fetched) == 3


@pytest.mark.parametrize(
    ("model", "is_arn"),
    [
        ("arn:aws:bedrock:us-east-1:123456789012:prompt/ABCDEFGHIJ", True),
        ("arn:aws:bedrock:us-east-1:123456789012:foundation-model/x", False),
        ("team:prompt/x", False),  # not an ARN, whatever it contains
        (None, False),
    ],
)
def test_only_a_prompt_arn_is_a_prompt_arn(model: Any, is_arn: bool) -> None:
    assert prompts.is_prompt_arn(model) is is_arn
