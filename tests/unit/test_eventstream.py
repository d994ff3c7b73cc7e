"""Our event-stream encoder produces frames botocore decodes (it has no encoder of its own)."""

from __future__ import annotations

import json

from botocore.eventstream import EventStreamBuffer
from gateway_core.eventstream import encode_event, encode_exception, encode_frame


def decode(data: bytes) -> list[tuple[dict[str, str], bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return [(dict(message.headers), message.payload) for message in buffer]


def test_event_frames_round_trip_through_botocore() -> None:
    data = encode_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "héllo"}})
    data += encode_event("messageStop", {"stopReason": "end_turn"})
    (h1, p1), (h2, p2) = decode(data)
    assert h1 == {":event-type": "contentBlockDelta", ":content-type": "application/json", ":message-type": "event"}
    assert json.loads(p1)["delta"]["text"] == "héllo"
    assert h2[":event-type"] == "messageStop" and json.loads(p2) == {"stopReason": "end_turn"}


def test_exception_frames_carry_the_modeled_type() -> None:
    [(headers, payload)] = decode(encode_exception("throttlingException", "slow down"))
    assert headers[":message-type"] == "exception" and headers[":exception-type"] == "throttlingException"
    assert json.loads(payload) == {"message": "slow down"}


def test_event_payloads_are_compact_json() -> None:
    # Bedrock writes its event payloads without spaces; clients that compare bytes see ours the same.
    [(_, payload)] = decode(encode_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "é"}}))
    assert payload == b'{"contentBlockIndex":0,"delta":{"text":"\\u00e9"}}'


def test_header_lengths_use_the_full_unsigned_range() -> None:
    # The layout gives a header name a u8 length and a string value a u16: a 200-byte name and a
    # 40 000-byte value (both past the signed range) are still one well-formed frame.
    name, value = "n" * 200, "v" * 40_000
    [(headers, payload)] = decode(encode_frame({name: value, ":message-type": "event"}, b"{}"))
    assert headers == {name: value, ":message-type": "event"}
    assert payload == b"{}"
