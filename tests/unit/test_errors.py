"""Transport failures map onto 502/504 in one place; bad bodies are 400s, not 500s."""

from __future__ import annotations

import aiohttp
import pytest
from gateway_core.aiohttp_transport import map_aiohttp_errors
from gateway_core.errors import InvalidRequestError, UpstreamTimeoutError, UpstreamUnavailableError
from openai_chat.chat import parse_chat_body


@pytest.mark.parametrize(
    ("raised", "expected", "status"),
    [
        (ConnectionRefusedError(111, "refused"), UpstreamUnavailableError, 502),
        (aiohttp.ConnectionTimeoutError("slow connect"), UpstreamUnavailableError, 502),
        (aiohttp.SocketTimeoutError("silent"), UpstreamTimeoutError, 504),
        (aiohttp.ServerDisconnectedError("cut"), UpstreamUnavailableError, 502),
        (aiohttp.ClientPayloadError("truncated"), UpstreamUnavailableError, 502),
    ],
)
def test_transport_errors_map_to_gateway_errors(raised: Exception, expected: type, status: int) -> None:
    with pytest.raises(expected) as caught, map_aiohttp_errors():
        raise raised
    assert caught.value.status_code == status


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b'"text"', b'{"stream": "yes"}', b"\xff\xfe"])
def test_bad_chat_bodies_are_invalid_requests(raw: bytes) -> None:
    with pytest.raises(InvalidRequestError):
        parse_chat_body(raw)
