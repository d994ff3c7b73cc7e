"""Titan Text Embeddings v2 and Cohere Embed v3 bodies -> LiteLLM embeddings, and back.

Titan's ``normalize`` (on by default) is applied here, to whatever vector the model returned;
its ``binary`` type is the sign of each dimension, as Titan defines it. Cohere's ``input_type``
is forwarded (providers that do not take it need ``drop_params`` on the deployment); ``truncate``
other than NONE, types other than float, and images are refused rather than ignored.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from gateway_core.errors import InvalidRequestError

__all__ = ["cohere_request", "cohere_response", "titan_request", "titan_response"]

_TITAN_FIELDS = {"inputText", "dimensions", "normalize", "embeddingTypes"}
_TITAN_TYPES = {"float", "binary"}
_COHERE_FIELDS = {"texts", "input_type", "truncate", "embedding_types"}
_INPUT_TYPES = {"search_document", "search_query", "classification", "clustering"}


def _fail(message: str) -> InvalidRequestError:
    return InvalidRequestError(message)


def titan_request(model_id: str, body: dict[str, Any]) -> dict[str, Any]:
    unknown = set(body) - _TITAN_FIELDS
    if unknown:
        raise _fail(f"Unsupported fields in a Titan embeddings body: {sorted(unknown)}")
    text = body.get("inputText")
    if not isinstance(text, str) or not text:
        raise _fail("inputText must be a non-empty string")
    types = body.get("embeddingTypes", ["float"])
    if not isinstance(types, list) or not types or not set(types) <= _TITAN_TYPES:
        raise _fail(f"embeddingTypes must be a non-empty list of {sorted(_TITAN_TYPES)}")
    if not isinstance(body.get("normalize", True), bool):
        raise _fail("normalize must be a boolean")
    out: dict[str, Any] = {"model": model_id, "input": [text]}
    if "dimensions" in body:
        dimensions = body["dimensions"]
        if dimensions not in (256, 512, 1024):
            raise _fail("dimensions must be 256, 512 or 1024")
        out["dimensions"] = dimensions
    return out


def _vectors(answer: dict[str, Any]) -> list[list[float]]:
    data = sorted(answer.get("data") or [], key=lambda item: int(item.get("index", 0)))
    return [[float(x) for x in item.get("embedding") or []] for item in data]


def _tokens(answer: dict[str, Any]) -> int:
    usage = answer.get("usage") or {}
    return int(usage.get("prompt_tokens") or usage.get("total_tokens") or 0)


def titan_response(body: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    vectors = _vectors(answer)
    vector = vectors[0] if vectors else []
    if body.get("normalize", True):
        norm = math.sqrt(sum(x * x for x in vector)) or 1.0
        vector = [x / norm for x in vector]
    by_type: dict[str, Any] = {}
    for kind in body.get("embeddingTypes", ["float"]):
        by_type[kind] = vector if kind == "float" else [1 if x > 0 else 0 for x in vector]
    out: dict[str, Any] = {"inputTextTokenCount": _tokens(answer), "embeddingsByType": by_type}
    if "float" in by_type:
        out["embedding"] = vector
    return out


def cohere_request(model_id: str, body: dict[str, Any]) -> dict[str, Any]:
    unknown = set(body) - _COHERE_FIELDS
    if "images" in unknown:
        raise _fail("Cohere image embeddings are not supported by this gateway; send texts")
    if unknown:
        raise _fail(f"Unsupported fields in a Cohere embeddings body: {sorted(unknown)}")
    texts = body.get("texts")
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise _fail("texts must be a non-empty list of strings")
    if len(texts) > 96:
        raise _fail("texts may hold at most 96 strings")
    if body.get("input_type") not in _INPUT_TYPES:
        raise _fail(f"input_type must be one of {sorted(_INPUT_TYPES)}")
    if body.get("truncate", "NONE") != "NONE":
        raise _fail("truncate START and END are not supported by this gateway: send NONE or leave it out")
    types = body.get("embedding_types")
    if types is not None and types != ["float"]:
        raise _fail("embedding_types supports only ['float'] on this gateway")
    return {"model": model_id, "input": texts, "input_type": body["input_type"]}


def cohere_response(body: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    vectors = _vectors(answer)
    out: dict[str, Any] = {"id": str(uuid.uuid4()), "texts": body["texts"]}
    if body.get("embedding_types") is None:
        out.update(embeddings=vectors, response_type="embeddings_floats")
    else:
        out.update(embeddings={"float": vectors}, response_type="embeddings_by_type")
    return out
