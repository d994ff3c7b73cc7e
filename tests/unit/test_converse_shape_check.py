"""The compiled check answers as the validator does (gateway_core.converse.shape_check).

Bodies are generated from the real bedrock-runtime model: mostly valid, with a wrong value, a
missing or unknown member, or a size at or past its bounds here and there. The check may be
stricter than the validator only on what JSON cannot carry (a tuple, a timestamp object): on
these bodies it must pass exactly those with an empty report. Passing one the validator refuses
would let a bad body through; refusing one it passes would send a valid body the slow way.
Each test compiles its own checks (``validation._quick_checks`` keeps one per process)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from gateway_core.converse import validation
from gateway_core.converse.shape_check import Check, compile_check
from gateway_core.converse.validation import validate_converse
from gateway_core.errors import InvalidRequestError

from tests.unit.test_hostile_input import BOTO3_CONVERSE_BODY

WRONG = [None, 1, -1, 2.5, True, "", "x", [], {}, [1], {"k": 1}, "aGk=", "!!"]
STRINGS = ["x", "tool_1", "Say hello", "", "a" * 70, "abc-DEF_9", "us.anthropic.claude", "é", "{}"]


def _value(shape: Any, rng: random.Random, depth: int) -> Any:
    if rng.random() < 0.008:
        return rng.choice(WRONG)
    kind = shape.type_name
    if kind == "structure" and shape.is_document_type:
        return rng.choice([{"type": "object"}, [1, "a", None], "text", 3, {"a": {"b": [True]}}])
    if kind == "structure":
        members = list(shape.members.items())
        if shape.is_tagged_union:
            count = rng.choices([1, 0, 2], [0.9, 0.05, 0.05])[0]
            chosen = rng.sample(members, min(count, len(members)))
        else:
            required = set(shape.metadata.get("required", []))
            keep = 0.3 if depth < 3 else 0.08
            chosen = [(n, m) for n, m in members if (n in required and rng.random() < 0.99) or rng.random() < keep]
        value = {name: _value(member, rng, depth + 1) for name, member in chosen}
        if rng.random() < 0.005:
            value["notAMember"] = 1
        return value
    if kind == "list":
        low = shape.metadata.get("min", 0)
        length = max(0, low + rng.choices([0, 1, 2, -1], [0.45, 0.3, 0.2, 0.05])[0])
        if shape.metadata.get("max", 99) <= 16 and rng.random() < 0.2:
            length = shape.metadata["max"] + rng.choice([0, 0, 1])  # at the bound, or one past
        if depth > 5:
            length = min(length, 1)
        return [_value(shape.member, rng, depth + 1) for _ in range(length)]
    if kind == "map":
        return {rng.choice(STRINGS): _value(shape.value, rng, depth + 1) for _ in range(rng.randint(0, 2))}
    if kind == "string":
        if shape.enum and rng.random() < 0.97:
            return rng.choice(shape.enum)
        if shape.metadata.get("max", 10**6) <= 256 and rng.random() < 0.1:
            return "a" * (shape.metadata["max"] + rng.choice([0, 0, 1]))  # at the bound, or one past
        return rng.choices(STRINGS, [8, 8, 4, 1, 1, 4, 2, 1, 1])[0]
    if kind in ("integer", "long"):
        low = shape.metadata.get("min", 0)
        high = shape.metadata.get("max", 10**6)
        return rng.choices([low, high, low - 1, high + 1, max(low, 1), True, 1.5], [5, 5, 1, 1, 5, 1, 1])[0]
    if kind in ("double", "float"):
        return rng.choices([0.0, 0.5, 1, 1.5, -1.0, 10**9, True], [4, 4, 4, 1, 1, 1, 1])[0]
    if kind == "boolean":
        return rng.choices([True, False, 0], [5, 5, 1])[0]
    if kind == "blob":
        return rng.choices(["aGk=", "aGk", "!!!!", "", 5], [8, 1, 1, 1, 1])[0]
    return "2024-01-01T00:00:00Z"


def _compiled(operation: str) -> Check:
    check = compile_check(validation._input_shapes()[operation], validation._UNCHECKED_PATTERNS)
    assert check is not None  # the real model compiles: Converse bodies do not go the slow way
    return check


@pytest.mark.parametrize("operation", ["Converse", "ConverseStream"])
def test_the_check_passes_what_the_validator_passes_and_nothing_else(operation: str) -> None:
    shape = validation._input_shapes()[operation]
    quick = _compiled(operation)
    rng = random.Random(f"shape-check-{operation}")  # noqa: S311 (test bodies, not a secret)
    passed = refused = 0
    for _ in range(3000):
        body = _value(shape, rng, 0)
        report = validation._validator().validate(body, shape)
        assert quick(body) is not report.has_errors(), (body, report.generate_report())
        passed += not report.has_errors()
        refused += report.has_errors()
    # Both answers are exercised: many bodies pass (where a looser check would show), many fail.
    assert passed > 600 and refused > 600, (passed, refused)


def test_what_boto3_sends_is_passed_by_the_check_itself() -> None:
    for operation in ("Converse", "ConverseStream"):
        assert _compiled(operation)({**BOTO3_CONVERSE_BODY, "modelId": "fake-gpt"}), operation


@pytest.mark.parametrize(
    ("change", "reported"),
    [
        ({"inferenceConfig": {"maxTokens": True}}, "inferenceConfig.maxTokens"),
        ({"inferenceConfig": {"maxTokens": 0}}, "inferenceConfig.maxTokens"),
        ({"inferenceConfig": {"temperature": "1"}}, "inferenceConfig.temperature"),
        ({"system": [{}]}, "system[0]"),
        ({"system": [{"text": "a", "cachePoint": {"type": "default"}}]}, "system[0]"),
        ({"messages": [{"role": "robot", "content": [{"text": "hi"}]}]}, "messages[0].role"),
        ({"messages": [{"role": "user"}]}, '"content"'),
        ({"toolConfig": {"tools": [{"toolSpec": {"name": "a b", "inputSchema": {"json": {}}}}]}}, "toolSpec.name"),
        (
            {"messages": [{"role": "user", "content": [{"image": {"format": "png", "source": {"bytes": "!"}}}]}]},
            "bytes",
        ),
        ({"unknownField": 1}, "unknownField"),
        ({"additionalModelResponseFieldPaths": ["/a"] * 11}, "additionalModelResponseFieldPaths"),
    ],
)
def test_what_the_check_refuses_is_reported_by_the_validator(change: dict[str, Any], reported: str) -> None:
    body = {"messages": [{"role": "user", "content": [{"text": "hi"}]}], **change}
    assert not _compiled("Converse")({**body, "modelId": "fake-gpt"})
    with pytest.raises(InvalidRequestError) as caught:
        validate_converse(body, "fake-gpt", stream=False)
    assert reported in caught.value.message


def _shape(definitions: dict[str, Any]) -> Any:
    from botocore.model import ShapeResolver

    return ShapeResolver(definitions).get_shape_by_name("Top")


def _top(member: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"Top": {"type": "structure", "members": {"m": member}}, **more}


@pytest.mark.parametrize(
    "definitions",
    [
        _top({"shape": "When"}, When={"type": "timestamp"}),
        _top(
            {"shape": "Text", "location": "header", "locationName": "x-v", "jsonvalue": True}, Text={"type": "string"}
        ),
        _top({"shape": "Text", "hostLabel": True}, Text={"type": "string"}),
        _top({"shape": "Top"}),  # a shape inside itself
    ],
    ids=["timestamp", "json header value", "host label", "recursive"],
)
def test_what_the_validator_treats_specially_gets_no_check(definitions: dict[str, Any]) -> None:
    assert compile_check(_shape(definitions)) is None


def test_a_document_holds_json_values_only() -> None:
    shape = _shape(_top({"shape": "Doc"}, Doc={"type": "structure", "members": {}, "document": True}))
    check = compile_check(shape)
    assert check is not None
    for value, valid in [({"m": {"a": [1, 2.5, "x", None, True]}}, True), ({"m": {"a": [object()]}}, False)]:
        assert check(value) is valid
        assert validation._validator().validate(value, shape).has_errors() is not valid
