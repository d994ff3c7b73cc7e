"""Converse options and tool results at their edges, through the translation functions: each
refusal's exact words, JSON Pointer escapes and indexes, and what a tool's attachments become."""

from __future__ import annotations

from typing import Any

import pytest
from gateway_core.converse.options import request_options, response_field_paths, response_fields
from gateway_core.converse.request import converse_to_openai
from gateway_core.errors import InvalidRequestError

SCHEMA = '{"type": "object"}'


def _json_schema(**spec: Any) -> dict[str, Any]:
    return {"outputConfig": {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": spec}}}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"outputConfig": "json"}, "outputConfig must be an object"),
        ({"outputConfig": {"textFormat": {"type": "xml"}}}, "outputConfig.textFormat.type must be json_schema"),
        (
            _json_schema(schema={"type": "object"}),
            "outputConfig.textFormat.structure.jsonSchema.schema must be a JSON schema as a string",
        ),
        (
            _json_schema(schema="{"),
            "outputConfig.textFormat.structure.jsonSchema.schema is not valid JSON: "
            "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        (_json_schema(schema="[]"), "outputConfig.textFormat.structure.jsonSchema.schema must be a JSON object"),
        (  # a tier that is not an object (the route's shape check refuses it first; the function too)
            {"serviceTier": "flex"},
            "serviceTier.type must be one of ['default', 'flex', 'priority'] on this gateway "
            "(reserved capacity is Bedrock's own)",
        ),
    ],
)
def test_malformed_output_config_is_refused_with_its_reason(body: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        request_options(body)
    assert refused.value.message == message


def test_an_unnamed_json_schema_is_named_response() -> None:
    assert request_options(_json_schema(schema=SCHEMA)) == {
        "response_format": {"type": "json_schema", "json_schema": {"name": "response", "schema": {"type": "object"}}}
    }


def test_ten_response_field_paths_are_the_most_served() -> None:
    ten = [f"/p{i}" for i in range(10)]
    assert response_field_paths({"additionalModelResponseFieldPaths": ten}) == ten


def test_json_pointer_escapes_name_keys_with_slash_and_tilde() -> None:
    answer = {"x/y": {"p~q": 5}, "model": "m"}
    assert response_fields(["/x~1y/p~0q"], answer) == {"x/y": {"p~q": 5}}


def test_json_pointer_indexes_only_lists_and_only_within_them() -> None:
    answer = {"choices": [{"index": 0}], "model": "m"}
    # past the end of a list, and an index into a string: not found, so nothing is returned
    assert response_fields(["/choices/1", "/model/0"], answer) is None
    assert response_fields(["/choices/0/index"], answer) == {"choices": {"0": {"index": 0}}}


def _tool_result(*content: dict[str, Any]) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": [{"text": "weather?"}]},
            {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "weather", "input": {}}}]},
            {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": list(content)}}]},
        ]
    }


PNG = {"image": {"format": "png", "source": {"bytes": "iVBO"}}}


def test_a_tool_result_of_only_an_image_says_so_and_sends_the_image_next() -> None:
    messages = converse_to_openai("m", _tool_result(PNG), stream=False)["messages"]
    assert messages[2:] == [
        {
            "role": "tool",
            "tool_call_id": "t1",
            "content": "[1 attachment(s) returned by the tool follow in the next message]",
        },
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}}]},
    ]


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (
            {"video": {"format": "mp4"}},
            "messages[2].content[0].toolResult.content[0]: toolResult content supports text, json, image and "
            "document blocks",
        ),
        (
            {"image": {"format": "bmp", "source": {"bytes": "Qk0="}}},
            "messages[2].content[0].toolResult.content[0].image.format must be one of ['gif', 'jpeg', 'png', 'webp']",
        ),
        (
            {"image": {"format": "png", "source": {"s3Location": {"uri": "s3://b/k"}}}},
            "image.source must carry bytes (s3Location is not supported by this gateway)",
        ),
    ],
)
def test_a_tool_result_block_we_cannot_send_is_refused_with_where_it_is(block: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        converse_to_openai("m", _tool_result(block), stream=False)
    assert refused.value.message == message
