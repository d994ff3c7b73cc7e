"""Our event-stream encoder produces frames botocore decodes (it has no encoder of its own)."""

from __future__ import annotations

import json

from botocore.eventstream import EventStreamBuffer
from gateway_core.eventstream import encode_event, encode_exception


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
