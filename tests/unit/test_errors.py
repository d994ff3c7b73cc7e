"""Bad bodies are 400s, not 500s (transport failures: test_h1_transport.py)."""

from __future__ import annotations

import pytest
from gateway_core.errors import InvalidRequestError
from openai_chat.chat import parse_chat_body


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b'"text"', b'{"stream": "yes"}', b"\xff\xfe"])
def test_bad_chat_bodies_are_invalid_requests(raw: bytes) -> None:
    with pytest.raises(InvalidRequestError):
        parse_chat_body(raw)
