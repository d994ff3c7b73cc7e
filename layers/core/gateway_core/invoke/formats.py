"""Which model-native body an InvokeModel request carries, decided from the body alone.

Bedrock picks the format from the model; this gateway serves any model LiteLLM serves, so it
reads the body instead: each supported format has a member no other one has.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Any

from gateway_core.errors import InvalidRequestError

__all__ = ["ANTHROPIC_VERSION", "BodyFormat", "body_format"]

ANTHROPIC_VERSION = "bedrock-2023-05-31"
_VERSION = re.compile(r"(bedrock-)?\d{4}-\d{2}-\d{2}")
SUPPORTED = (
    "Anthropic Messages (anthropic_version: bedrock-2023-05-31), "
    "Amazon Nova (schemaVersion: messages-v1), "
    "Amazon Titan Text Embeddings v2 (inputText) and "
    "Cohere Embed v3 (texts, input_type)"
)


class BodyFormat(Enum):
    ANTHROPIC = "anthropic"
    NOVA = "nova"
    TITAN_EMBED = "titan-embed"
    COHERE_EMBED = "cohere-embed"

    @property
    def streams(self) -> bool:
        return self in {BodyFormat.ANTHROPIC, BodyFormat.NOVA}


def body_format(body: dict[str, Any]) -> BodyFormat:
    if "anthropic_version" in body:
        version = body["anthropic_version"]
        # Bedrock documents bedrock-2023-05-31; the Anthropic SDK's AnthropicBedrock sends its own
        # dated API version. Both name the Messages API, which is what is translated.
        if not isinstance(version, str) or not _VERSION.fullmatch(version):
            raise InvalidRequestError(
                f"anthropic_version must be {ANTHROPIC_VERSION!r} (or a dated Messages API version)"
            )
        return BodyFormat.ANTHROPIC
    if "messages" in body:
        if body.get("schemaVersion", "messages-v1") != "messages-v1":
            raise InvalidRequestError("schemaVersion must be 'messages-v1'")
        return BodyFormat.NOVA
    if "inputText" in body:
        return BodyFormat.TITAN_EMBED
    if "texts" in body or "input_type" in body:
        return BodyFormat.COHERE_EMBED
    raise InvalidRequestError(f"The request body is not in a format this gateway translates. Supported: {SUPPORTED}.")
