"""Chat history in one DynamoDB table (items: records.py), written one turn at a time, all or nothing.

A turn that fits one transaction (100 items, 4 MB: nearly every turn) is one TransactWriteItems:
its message items, plus ``ADD message_count`` on the session item under the condition that the
session still exists (or, for a new one, does not yet). Nothing is read back and rewritten, so
turn 500 costs what turn 1 costs.

A larger turn (several messages of megabytes, or hundreds of messages) is staged: its items are
written first, marked ``staged``, in as many batches as it takes; then one small transaction
puts the turn's commit record and updates the session, under the same condition. Readers skip a
staged item unless its turn's commit record exists, and the record sorts before every item of
its turn (records.py), so a reader that reaches a staged item has already passed the record:

* a reader never sees part of a turn: the commit makes every item of the turn visible at once,
  because all of them were written before it and nothing but a session delete removes them;
* concurrent turns never touch each other's items (each turn has its own random key) and meet
  only on the session item, where DynamoDB serializes them: a transaction cancelled by
  TransactionConflict had no effect and is sent again (with backoff), so no turn is lost and the
  message count is exact;
* a turn that fails after staging (the session deleted meanwhile, DynamoDB failing, the process
  killed) leaves staged items without a record: invisible, deleted at once when we can, and
  otherwise by the table's TTL (``expires_at``, the retention) or with the session.

Every item carries ``expires_at`` (the table's TTL attribute); expired items are also filtered on
read, since TTL deletes lazily. Sessions are listed through the sparse ``owner-updated`` index.
Everything here is blocking (botocore): async callers use ``gateway_core.history.turns``.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import PynamoDBException, TransactWriteError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from gateway_core import tracing
from gateway_core.errors import ServiceUnavailableError
from gateway_core.history.records import (
    SESSION_SK,
    MessageItem,
    SessionItem,
    decode_message,
    message_items,
    message_key,
    new_turn_key,
    turn_key,
)
from gateway_core.history.sizes import PAGE_BYTES, openai_cost
from gateway_core.settings import get_settings

__all__ = ["Page", "Session", "SessionGone", "SessionStore", "get_store", "new_session_id"]

TRANSACTION_ITEMS = 100
TRANSACTION_BYTES = 3_500_000  # DynamoDB's limit is 4 MB of items; records.MessageItem.size() is an estimate
CONFLICT_RETRIES = 10
_RETRYABLE_REASONS = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}

log = logging.getLogger("gateway")


def new_session_id() -> str:
    return str(uuid.uuid4())


def _now_ms() -> int:
    return int(time.time() * 1000)


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


@dataclass(frozen=True)
class Page:
    messages: list[dict[str, Any]]
    after: str | None  # where the next page starts (a sort key), None on the last page


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
        message_count=int(item.message_count),  # written with every session (0 at the least)
        model=item.model,
        system=json.loads(item.system) if item.system else [],
        expires_at=int(item.expires_at),
    )


def _reasons(exc: TransactWriteError) -> set[str]:
    return {r.code for r in (exc.cancellation_reasons or []) if r is not None and r.code}


class SessionStore:
    def __init__(self, table_name: str, retention_days: float) -> None:
        self.retention_s = int(retention_days * 86400)
        self.region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        for model in (SessionItem, MessageItem):
            model.Meta.table_name = table_name
            model.Meta.region = self.region
            model._connection = None  # rebind to the new table name
        tracing.trace_aws_calls()  # before the first DynamoDB call (this connection's or a model's)
        # One connection for transactions: each new one builds a botocore session and client.
        self._connection = Connection(region=self.region)
        self.conflicts_retried = 0  # turns sent again after TransactionConflict (concurrent turns)

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

    # -- reading ---------------------------------------------------------------------------

    def _visible_messages(self, pk: str, after: str | None) -> Iterator[tuple[str, list[MessageItem]]]:
        """(sort key of its last item, its items) of each message readers may see, in order."""
        now = time.time()
        committed: dict[str, bool] = {}  # turn key -> has a commit record
        group: list[MessageItem] = []
        start = {"pk": {"S": pk}, "sk": {"S": after}} if after else None
        query = MessageItem.query(pk, MessageItem.sk.startswith("M#"), consistent_read=True, last_evaluated_key=start)
        for item in query:
            if item.turn_items is not None:  # a commit record: its staged items follow it
                committed[item.sk] = True
                continue
            if item.expires_at <= now:
                continue
            if item.staged and not self._is_committed(pk, turn_key(item.sk), committed, after):
                continue
            if group and message_key(item.sk) != message_key(group[0].sk):
                yield group[-1].sk, group
                group = []
            group.append(item)
        if group:
            yield group[-1].sk, group

    def _is_committed(self, pk: str, turn: str, committed: dict[str, bool], after: str | None) -> bool:
        if turn not in committed:
            if after is None or turn > after:
                committed[turn] = False  # this read passed where its record would be: not committed
            else:  # the page starts inside the turn: its record is behind us, ask for it
                try:
                    MessageItem.get(pk, turn, consistent_read=True, attributes_to_get=["pk"])
                    committed[turn] = True
                except MessageItem.DoesNotExist:
                    committed[turn] = False
        return committed[turn]

    def messages(self, session_id: str) -> list[dict[str, Any]]:
        """Every stored message in order (what a continued turn sends to the model)."""
        return self.page(session_id, limit=None, budget=None).messages

    def page(
        self,
        session_id: str,
        *,
        after: str | None = None,
        limit: int | None,
        budget: int | None = PAGE_BYTES,
        cost: Callable[[dict[str, Any]], int] = openai_cost,
    ) -> Page:
        """Messages after the sort key ``after``: at most ``limit`` of them and ``budget`` bytes
        by ``cost``, and at least one. A first page never starts on an orphaned answer or tool
        result (older turns expire first)."""
        out: list[dict[str, Any]] = []
        spent, last_sk, expired_start = 0, None, None
        try:
            for sk, items in self._visible_messages(f"S#{session_id}", after):
                if limit is not None and len(out) >= limit:
                    return Page(out, last_sk)
                message = decode_message(items)
                if after is None and not out and message.get("role") != "user":
                    if expired_start is None:
                        expired_start = self._has_expired_start(session_id)
                    if expired_start:
                        continue
                if budget is not None:
                    spent += cost(message)
                    if out and spent > budget:
                        return Page(out, last_sk)
                out.append(message)
                last_sk = sk
        except PynamoDBException as exc:
            raise ServiceUnavailableError("Chat history is unavailable") from exc
        return Page(out, None)

    def _has_expired_start(self, session_id: str) -> bool:
        """Whether the session's first message item has expired (so what follows lost its question).

        An eventually consistent read (half the cost) gives the same answer: an expired item was
        written a retention period ago, and a just-written one missing from the read is not expired
        either."""
        query = MessageItem.query(f"S#{session_id}", MessageItem.sk.startswith("M#"), limit=1)
        first = next(iter(query), None)
        return first is not None and first.expires_at <= time.time()

    # -- writing ---------------------------------------------------------------------------

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
        """Store one turn, all or nothing. ``system`` (when not None) replaces the stored prompt.

        Raises SessionGone if the session vanished, ServiceUnavailableError if DynamoDB failed.
        """
        pk, now, expires_at = f"S#{session_id}", _now_ms(), self._expiry()
        turn = new_turn_key()
        items = [item for n, m in enumerate(messages) for item in message_items(pk, f"{turn}#{n:03d}", m, expires_at)]
        session_size = len(json.dumps(system or [])) + 512
        fits = len(items) < TRANSACTION_ITEMS and session_size + sum(i.size() for i in items) <= TRANSACTION_BYTES
        write: list[MessageItem] = items
        if not fits:
            for item in items:
                item.staged = True
            self._stage(items)
            write = [MessageItem(pk, turn, turn_items=len(items), expires_at=expires_at)]
        try:
            self._commit(
                pk,
                owner,
                len(messages),
                write,
                create=create,
                model=model,
                system=system,
                now=now,
                expires_at=expires_at,
            )
        except BaseException:
            if not fits:
                self._discard(items)
            raise

    def _stage(self, items: list[MessageItem]) -> None:
        try:
            with MessageItem.batch_write() as batch:  # 25 a request; unprocessed items are sent again
                for item in items:
                    batch.save(item)
        except PynamoDBException as exc:
            self._discard(items)
            raise ServiceUnavailableError("Chat history could not be stored") from exc

    def _discard(self, items: list[MessageItem]) -> None:
        """Best effort: staged items of a turn that will never commit (else TTL removes them)."""
        try:
            with MessageItem.batch_write() as batch:
                for item in items:
                    batch.delete(item)
        except PynamoDBException as exc:
            log.warning("staged history items left for TTL (%d): %s", len(items), exc)

    def _commit(
        self,
        pk: str,
        owner: str,
        count: int,
        items: list[MessageItem],
        *,
        create: bool,
        model: str | None,
        system: list[dict[str, Any]] | None,
        now: int,
        expires_at: int,
    ) -> None:
        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                # A token per try: botocore's own retries of this call cannot apply it twice.
                with TransactWrite(connection=self._connection, client_request_token=str(uuid.uuid4())) as tx:
                    if create:
                        new = SessionItem(
                            pk,
                            SESSION_SK,
                            owner=owner,
                            created_at=now,
                            updated_at=now,
                            message_count=count,
                            model=model,
                            system=json.dumps(system) if system else None,
                            expires_at=expires_at,
                        )
                        tx.save(new, condition=SessionItem.pk.does_not_exist())
                    else:
                        actions: list[Action] = [
                            SessionItem.message_count.add(count),
                            SessionItem.updated_at.set(now),
                            SessionItem.expires_at.set(expires_at),
                        ]
                        if model:
                            actions.append(SessionItem.model.set(model))
                        if system is not None:  # replaces the stored prompt ("[]" reads back as none)
                            actions.append(SessionItem.system.set(json.dumps(system)))
                        tx.update(SessionItem(pk, SESSION_SK), actions, condition=SessionItem.pk.exists())
                    for item in items:
                        tx.save(item, condition=MessageItem.sk.does_not_exist())
                return
            except TransactWriteError as exc:
                reasons = _reasons(exc)
                if "ConditionalCheckFailed" in reasons:
                    raise SessionGone from exc
                if attempt < CONFLICT_RETRIES and (reasons & _RETRYABLE_REASONS or _is_throttled(exc)):
                    self.conflicts_retried += 1
                    time.sleep(random.uniform(0, min(1.0, 0.02 * 2**attempt)))  # noqa: S311 (jitter)
                    continue
                raise ServiceUnavailableError("Chat history could not be stored") from exc
            except PynamoDBException as exc:
                raise ServiceUnavailableError("Chat history could not be stored") from exc

    # -- listing and deleting --------------------------------------------------------------

    def list(self, owner: str, limit: int, start: dict[str, Any] | None) -> tuple[list[Session], dict[str, Any] | None]:
        """The owner's sessions, newest first, from ``start`` (the index key a previous page ended on)."""
        try:
            result = SessionItem.by_owner.query(owner, scan_index_forward=False, limit=limit, last_evaluated_key=start)
            found = [s for s in (_session(i) for i in result) if s.expires_at > time.time()]
        except PynamoDBException as exc:
            raise ServiceUnavailableError("Chat history is unavailable") from exc
        return found, result.last_evaluated_key

    def delete(self, session_id: str) -> int:
        """Delete the session item first (so turns in flight fail), then every item of the session,
        read consistently, page after page. Returns how many messages were deleted."""
        pk = f"S#{session_id}"
        deleted = 0
        try:
            SessionItem(pk, SESSION_SK).delete()
            with MessageItem.batch_write() as batch:
                for item in MessageItem.query(pk, consistent_read=True, attributes_to_get=["pk", "sk"]):
                    batch.delete(item)
                    # One part 0 per message; no other key ends so (SESSION, a commit record's
                    # M#<µs>#<turn>, whose turn is hex without a "#").
                    if item.sk.endswith("#00"):
                        deleted += 1
        except PynamoDBException as exc:
            raise ServiceUnavailableError("Chat history is unavailable") from exc
        return deleted


def _is_throttled(exc: TransactWriteError) -> bool:
    return exc.cause_response_code in {"TransactionInProgressException", "ThrottlingException"}


@lru_cache(maxsize=1)
def get_store() -> SessionStore:
    settings = get_settings()
    return SessionStore(settings.history_table, settings.history_retention_days)
