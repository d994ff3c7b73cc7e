"""The history table's items, and how one message becomes items and back.

Keys (``pk`` / ``sk``)::

    S#<session>  SESSION                       owner, times, message count, model, system prompt
    S#<session>  M#<µs>#<turn>                 commit record of a staged turn (see store.py)
    S#<session>  M#<µs>#<turn>#<nnn>#<pp>      message nnn of the turn, part pp when it is large

A turn key (``M#<µs>#<turn>``) sorts before every item of its turn, and the items of one turn
are contiguous: the server's clock in µs, then 64 random bits that keep concurrent turns apart.
"""

from __future__ import annotations

import json
import secrets
import time
import zlib
from typing import Any

from pynamodb.attributes import BinaryAttribute, BooleanAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

from gateway_core.history.sizes import MESSAGE_CAP, message_cost

__all__ = [
    "SESSION_SK",
    "MessageItem",
    "SessionItem",
    "decode_message",
    "message_items",
    "message_key",
    "new_turn_key",
    "turn_key",
]

SESSION_SK = "SESSION"
INLINE_LIMIT = 64 * 1024  # larger messages are compressed...
PART_SIZE = 300 * 1024  # ...and split into parts below DynamoDB's 400 KB item limit
_CHEAP_COST_BOUND = 4  # a message's served cost is at most 4x its JSON (sizes.py): skip measuring small ones


class OwnerIndex(GlobalSecondaryIndex["SessionItem"]):  # type: ignore[no-untyped-call]  # pynamodb
    class Meta:
        index_name = "owner-updated"
        projection = IncludeProjection(["created_at", "message_count", "model", "expires_at"])

    owner = UnicodeAttribute(hash_key=True)
    updated_at = NumberAttribute(range_key=True)


class SessionItem(Model):
    class Meta:
        table_name = "unset"  # bound by SessionStore
        region = "us-east-1"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)  # always SESSION_SK; no default, so a missing key fails
    owner = UnicodeAttribute()
    created_at = NumberAttribute()
    updated_at = NumberAttribute()
    message_count = NumberAttribute(default=0)
    model = UnicodeAttribute(null=True)
    system = UnicodeAttribute(null=True)  # JSON list of OpenAI system messages
    expires_at = NumberAttribute()
    by_owner = OwnerIndex()


class MessageItem(Model):
    class Meta:
        table_name = "unset"
        region = "us-east-1"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    body = UnicodeAttribute(null=True)  # the message's JSON, when small
    blob = BinaryAttribute(null=True, legacy_encoding=False)  # zlib part, when large
    staged = BooleanAttribute(null=True)  # written before its turn's commit record; hidden without it
    turn_items = NumberAttribute(null=True)  # on a commit record: how many items its turn has
    expires_at = NumberAttribute()

    def size(self) -> int:
        """Roughly what DynamoDB counts for this item (names and values), for transaction limits."""
        payload = len(self.body.encode()) if self.body is not None else len(self.blob or b"")
        return payload + len(self.pk) + len(self.sk) + 64


def new_turn_key() -> str:
    return f"M#{time.time_ns() // 1000:016d}#{secrets.token_hex(8)}"


def turn_key(sk: str) -> str:
    """``M#<µs>#<turn>`` of any message item or commit record."""
    return "#".join(sk.split("#", 3)[:3])


def message_key(sk: str) -> str:
    """``M#<µs>#<turn>#<nnn>``: what the parts of one message share."""
    return sk.rsplit("#", 1)[0]


def message_items(pk: str, key: str, message: dict[str, Any], expires_at: int) -> list[MessageItem]:
    """The items of one message under ``key`` (``M#<µs>#<turn>#<nnn>``): inline when small,
    compressed in parts when large, a placeholder when it could not be served whole."""
    encoded = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
    if len(encoded) * _CHEAP_COST_BOUND > MESSAGE_CAP and message_cost(message) > MESSAGE_CAP:
        note = f"[{message.get('role', 'message')} content of {len(encoded)} bytes was too large to keep in history]"
        placeholder = {"role": message.get("role", "user"), "content": note}
        encoded = json.dumps(placeholder).encode()
    if len(encoded) <= INLINE_LIMIT:
        return [MessageItem(pk, f"{key}#00", body=encoded.decode(), expires_at=expires_at)]
    packed = zlib.compress(encoded)  # zlib's default level (6)
    chunks = [packed[i : i + PART_SIZE] for i in range(0, len(packed), PART_SIZE)]
    # Read back by joining every part under the message's key (message_key): no part count kept.
    return [MessageItem(pk, f"{key}#{n:02d}", blob=chunk, expires_at=expires_at) for n, chunk in enumerate(chunks)]


def decode_message(items: list[MessageItem]) -> dict[str, Any]:
    first = items[0]
    if first.body is not None:
        return dict(json.loads(first.body))
    return dict(json.loads(zlib.decompress(b"".join(bytes(i.blob or b"") for i in items))))
