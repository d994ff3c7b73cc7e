"""What a stored message costs where the limits are: in a Lambda answer, and in DynamoDB.

A history page is a buffered Lambda answer: its JSON body travels inside the invocation
response, re-encoded as a JSON string (the runtime's marshaller keeps non-ASCII as is, so only
quotes, backslashes and control characters grow), and that response may not exceed 6 MB. A
message therefore costs the length of its JSON *as a JSON string*, in the OpenAI shape or the
Converse one, whichever is larger. Pages stay under ``PAGE_BYTES`` of messages; one message may
not exceed ``MESSAGE_CAP`` (larger ones are stored as a placeholder), so any message fits a page.
"""

from __future__ import annotations

import json
from typing import Any

from gateway_core.history.formats import openai_to_converse_history

__all__ = ["MESSAGE_CAP", "PAGE_BYTES", "converse_cost", "message_cost", "openai_cost"]

LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024
PAGE_BYTES = 5_000_000  # the rest of the 6 MB: envelope, headers, system prompt (<= 400 KB), token
MESSAGE_CAP = 4_000_000


def _as_json_string(document: Any) -> int:
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":"))  # as Starlette renders it
    return len(json.dumps(body, ensure_ascii=False).encode())  # as the runtime embeds it


def openai_cost(message: dict[str, Any]) -> int:
    return _as_json_string(message)


def converse_cost(message: dict[str, Any]) -> int:
    return _as_json_string(openai_to_converse_history([message]))


def message_cost(message: dict[str, Any]) -> int:
    """The larger of the two shapes a stored message is served in."""
    served = openai_cost(message)
    try:
        return max(served, converse_cost(message))
    except (AttributeError, TypeError, ValueError):  # a shape Converse cannot render: bound it
        return 2 * served
