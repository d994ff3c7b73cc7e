"""Chat history in one DynamoDB table, written one turn at a time.

Items (``pk`` / ``sk``)::

    S#<session>  SESSION                      owner, times, message count, model, system prompt
    S#<session>  M#<µs>#<turn>#<nnn>#<pp>     one message (part ``pp`` of it when it is large)

A turn is one transaction: it puts the turn's messages and updates the session item with
``ADD message_count`` under the condition that the session still exists (or, for a new one,
does not yet). Nothing is read back and rewritten, so appending turn 500 costs what turn 1
costs, and concurrent turns on one session cannot lose each other's messages: each message is
ordered by the server's clock plus a per-turn random id. Every item carries ``expires_at`` (the
table's TTL attribute); expired items are also filtered on read, since TTL deletes lazily.
Sessions are listed through the sparse ``owner-updated`` index, newest first.

Everything here is blocking (botocore): async callers use ``gateway_core.history.turns``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import time
import uuid
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pynamodb.attributes import BinaryAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.connection import Connection
from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.expressions.update import Action
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from gateway_core.errors import InvalidRequestError, ServiceUnavailableError
from gateway_core.settings import get_settings

__all__ = ["Session", "SessionGone", "SessionStore", "get_store", "new_session_id"]

SESSION_SK = "SESSION"
INLINE_LIMIT = 64 * 1024  # larger messages are compressed...
PART_SIZE = 300 * 1024  # ...and split into parts below DynamoDB's 400 KB item limit
MESSAGE_LIMIT = 3 * 1024 * 1024  # compressed; beyond this a placeholder is stored instead
TRANSACTION_ITEMS = 100


def new_session_id() -> str:
    return str(uuid.uuid4())


def _now_ms() -> int:
    return int(time.time() * 1000)


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
    sk = UnicodeAttribute(range_key=True, default=SESSION_SK)
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
    parts = NumberAttribute(null=True)  # number of parts, on part 0
    expires_at = NumberAttribute()


@dataclass(frozen=True)
class Session:
    session_id: str
    owner: str
    created_at: int
    updated_at: int
    message_count: int
    model: str | None
    system: list[dict[str, Any]]
    expires_at: int

    def summary(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "message_count": self.message_count,
            "model": self.model,
        }


class SessionGone(Exception):
    """The session was deleted (or never created) while a turn was being stored."""


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def _session(item: SessionItem) -> Session:
    return Session(
        session_id=item.pk[2:],
        owner=item.owner,
        created_at=int(item.created_at),
        updated_at=int(item.updated_at),
        message_count=int(item.message_count or 0),
        model=item.model,
        system=json.loads(item.system) if item.system else [],
        expires_at=int(item.expires_at),
    )


def _message_items(pk: str, turn_sk: str, message: dict[str, Any], expires_at: int) -> list[MessageItem]:
    encoded = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
    if len(encoded) <= INLINE_LIMIT:
        return [MessageItem(pk, f"{turn_sk}#00", body=encoded.decode(), expires_at=expires_at)]
    packed = zlib.compress(encoded, 6)
    if len(packed) > MESSAGE_LIMIT:
        note = f"[{message.get('role', 'message')} content of {len(encoded)} bytes was too large to keep in history]"
        placeholder = {"role": message.get("role", "user"), "content": note}
        return [MessageItem(pk, f"{turn_sk}#00", body=json.dumps(placeholder), expires_at=expires_at)]
    chunks = [packed[i : i + PART_SIZE] for i in range(0, len(packed), PART_SIZE)]
    return [
        MessageItem(pk, f"{turn_sk}#{n:02d}", blob=chunk, parts=len(chunks) if n == 0 else None, expires_at=expires_at)
        for n, chunk in enumerate(chunks)
    ]


def _decode(items: list[MessageItem]) -> dict[str, Any]:
    first = items[0]
    if first.body is not None:
        return dict(json.loads(first.body))
    return dict(json.loads(zlib.decompress(b"".join(bytes(i.blob or b"") for i in items))))


class SessionStore:
    def __init__(self, table_name: str, retention_days: float) -> None:
        self.table_name = table_name
        self.retention_s = int(retention_days * 86400)
        self.region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        for model in (SessionItem, MessageItem):
            model.Meta.table_name = table_name
            model.Meta.region = self.region
            model._connection = None  # rebind to the new table name
        # One connection for transactions: each new one builds a botocore session and client.
        self._connection = Connection(region=self.region)

    def _expiry(self) -> int:
        return int(time.time()) + self.retention_s

    def get(self, session_id: str) -> Session | None:
        try:
            item = SessionItem.get(f"S#{session_id}", SESSION_SK, consistent_read=True)
        except SessionItem.DoesNotExist:
            return None
        except PynamoDBException as exc:
            raise ServiceUnavailableError("Chat history is unavailable") from exc
        session = _session(item)
        return session if session.expires_at > time.time() else None

    def messages(self, session_id: str) -> list[dict[str, Any]]:
        """The stored messages in order, without expired ones (and without a dangling start)."""
        now = time.time()
        out: list[dict[str, Any]] = []
        pruned = False
        group: list[MessageItem] = []
        try:
            query = MessageItem.query(f"S#{session_id}", MessageItem.sk.startswith("M#"), consistent_read=True)
            for item in query:
                if item.expires_at <= now:
                    pruned = True
                    continue
                if group and item.sk[:-3] != group[0].sk[:-3]:
                    out.append(_decode(group))
                    group = []
                group.append(item)
        except PynamoDBException as exc:
            raise ServiceUnavailableError("Chat history is unavailable") from exc
        if group:
            out.append(_decode(group))
        if pruned:  # older turns expired: never start on an orphaned tool result or answer
            while out and out[0].get("role") != "user":
                out.pop(0)
        return out

    def append(
        self,
        session_id: str,
        owner: str,
        messages: list[dict[str, Any]],
        *,
        create: bool,
        model: str | None,
        system: list[dict[str, Any]] | None,
    ) -> None:
        """Store one turn atomically. ``system`` (when not None) replaces the stored prompt.

        Raises SessionGone if the session vanished, ServiceUnavailableError if DynamoDB failed.
        """
        pk, now, expires_at = f"S#{session_id}", _now_ms(), self._expiry()
        turn = f"M#{time.time_ns() // 1000:016d}#{secrets.token_hex(4)}"
        items = [item for n, m in enumerate(messages) for item in _message_items(pk, f"{turn}#{n:03d}", m, expires_at)]
        session = SessionItem(pk, SESSION_SK)
        try:
            with TransactWrite(connection=self._connection) as transaction:
                if create:
                    new = SessionItem(
                        pk,
                        SESSION_SK,
                        owner=owner,
                        created_at=now,
                        updated_at=now,
                        message_count=len(messages),
                        model=model,
                        system=json.dumps(system) if system else None,
                        expires_at=expires_at,
                    )
                    transaction.save(new, condition=SessionItem.pk.does_not_exist())
                else:
                    actions: list[Action] = [
                        SessionItem.message_count.add(len(messages)),
                        SessionItem.updated_at.set(now),
                        SessionItem.expires_at.set(expires_at),
                    ]
                    if model:
                        actions.append(SessionItem.model.set(model))
                    if system is not None:
                        actions.append(
                            SessionItem.system.set(json.dumps(system)) if system else SessionItem.system.remove()
                        )
                    transaction.update(session, actions, condition=SessionItem.pk.exists())
                for item in items[: TRANSACTION_ITEMS - 1]:
                    transaction.save(item)
            for start in range(TRANSACTION_ITEMS - 1, len(items), TRANSACTION_ITEMS):
                with TransactWrite(connection=self._connection) as rest:  # only for very long turns
                    for item in items[start : start + TRANSACTION_ITEMS]:
                        rest.save(item)
        except TransactWriteError as exc:
            reasons = [r.code for r in (exc.cancellation_reasons or []) if r is not None]
            if "ConditionalCheckFailed" in reasons:
                raise SessionGone(session_id) from exc
            raise ServiceUnavailableError("Chat history could not be stored") from exc
        except PynamoDBException as exc:
            raise ServiceUnavailableError("Chat history could not be stored") from exc

    def list(self, owner: str, limit: int, cursor: str | None) -> tuple[list[Session], str | None]:
        start = _decode_cursor(cursor, owner) if cursor else None
        try:
            result = SessionItem.by_owner.query(owner, scan_index_forward=False, limit=limit, last_evaluated_key=start)
            found = [s for s in (_session(i) for i in result) if s.expires_at > time.time()]
        except PynamoDBException as exc:
            raise ServiceUnavailableError("Chat history is unavailable") from exc
        last = result.last_evaluated_key
        return found, base64.urlsafe_b64encode(json.dumps(last).encode()).decode() if last else None

    def delete(self, session_id: str) -> int:
        """Delete the session item first (so concurrent turns fail), then its messages."""
        pk = f"S#{session_id}"
        try:
            SessionItem(pk, SESSION_SK).delete()
            deleted = 0
            with MessageItem.batch_write() as batch:
                for item in MessageItem.query(pk, MessageItem.sk.startswith("M#"), attributes_to_get=["pk", "sk"]):
                    batch.delete(item)
                    deleted += 1
        except PynamoDBException as exc:
            raise ServiceUnavailableError("Chat history is unavailable") from exc
        return deleted


def _decode_cursor(cursor: str, owner: str) -> dict[str, Any]:
    """A ``next_token`` we issued, for this owner (it names a key in the owner's index)."""
    try:
        start = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequestError("next_token is not valid", param="next_token") from exc
    if not isinstance(start, dict) or start.get("owner") != {"S": owner}:
        raise InvalidRequestError("next_token is not valid", param="next_token")
    return start


@lru_cache(maxsize=1)
def get_store() -> SessionStore:
    settings = get_settings()
    return SessionStore(settings.history_table, settings.history_retention_days)
