"""Priority admission queues: at most N requests in flight to a model, the most urgent first.

LiteLLM does not order waiting requests (README, "Request priority"): a saturated deployment
answers 429 and its scheduler only orders requests while every deployment is cooling down. So
the chat functions queue in front of LiteLLM, in Redis, because every Lambda instance serves one
request at a time and many instances serve a model: a queue in one process would order nothing.

Per gated model (``GATEWAY_PRIORITY_LIMITS``, model name to requests in flight at once), three
sorted sets hold the state, and every change is one Lua script (atomic in Redis):

  waiting   ticket -> priority * 10^13 + arrival ms (Redis' clock): lower is served first
  alive     ticket -> when its waiter last asked (a waiter that stopped asking is dropped)
  holders   ticket -> when its lease ends (a crashed holder's slot frees itself)

A waiter asks every ``POLL_S``; it is admitted only when a slot is free *and* it is among the
first ``free`` tickets of ``waiting``, so no ticket is admitted while a more urgent live one
waits (among equals, first come first served). A holder renews its lease while it holds.
If Redis cannot be reached the request goes on unqueued (availability over ordering) and the
failure is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import weakref
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool

from gateway_core.errors import ServiceUnavailableError
from gateway_core.settings import get_settings

__all__ = ["POLL_S", "Slot", "acquire_slot", "queue_keys"]

log = logging.getLogger("gateway")

POLL_S = 0.02  # a waiter's polling interval (LiteLLM's own scheduler polls every 30 ms)
LEASE_MS = 30_000  # a holder's lease, renewed every third of it while the request runs
STALE_MS = 3_000  # a waiter silent for this long has gone (client disconnected, instance died)

# KEYS: waiting, alive, holders. ARGV: ticket, priority, score ('' the first time), capacity.
# Returns {admitted (0/1), score}.
_TRY = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local waiting, alive, holders = KEYS[1], KEYS[2], KEYS[3]
local ticket, capacity = ARGV[1], tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', holders, '-inf', now)
local gone = redis.call('ZRANGEBYSCORE', alive, '-inf', now - tonumber(ARGV[6]))
for _, g in ipairs(gone) do
  redis.call('ZREM', waiting, g)
  redis.call('ZREM', alive, g)
end
local score = ARGV[3]
if score == '' then score = string.format('%.0f', tonumber(ARGV[2]) * 1e13 + now) end
redis.call('ZADD', waiting, 'NX', score, ticket)
redis.call('ZADD', alive, now, ticket)
local free = capacity - redis.call('ZCARD', holders)
local admitted = 0
if free > 0 and redis.call('ZRANK', waiting, ticket) < free then
  redis.call('ZREM', waiting, ticket)
  redis.call('ZREM', alive, ticket)
  redis.call('ZADD', holders, now + tonumber(ARGV[5]), ticket)
  admitted = 1
end
for _, k in ipairs(KEYS) do redis.call('PEXPIRE', k, tonumber(ARGV[5]) * 2) end
return {admitted, score}
"""
# KEYS: holders. ARGV: ticket, lease ms. Extends a held lease (never re-creates a lost one).
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[2]), ARGV[1])
"""
# KEYS: waiting, alive, holders. ARGV: ticket. Leaves the queue or frees the slot.
_LEAVE = """
for _, k in ipairs(KEYS) do redis.call('ZREM', k, ARGV[1]) end
return 1
"""


def queue_keys(model: str) -> list[str]:
    """The Redis keys of ``model``'s queue: waiting, alive, holders (one hash slot: {model})."""
    prefix = get_settings().priority_key_prefix
    return [f"{prefix}:{{{model}}}:{part}" for part in ("waiting", "alive", "holders")]


_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()


def _auth_token() -> str | None:
    """ElastiCache's AUTH token from Secrets Manager (Powertools caches it for the warm function)."""
    arn = get_settings().priority_redis_auth_secret_arn
    if not arn:
        return None
    from aws_lambda_powertools.utilities.parameters import get_secret  # lazy: AWS only

    return str(get_secret(arn, max_age=3600))


async def _redis() -> Any:
    """One client per event loop (redis.asyncio connections belong to the loop that made them)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        import redis.asyncio  # lazy: only functions with admission queues pay for the import

        password = await run_in_threadpool(_auth_token)
        client = redis.asyncio.Redis.from_url(
            get_settings().priority_redis_url, password=password, socket_timeout=2.0, socket_connect_timeout=2.0
        )
        _clients[loop] = client
    return client


@dataclass
class Slot:
    """A place among a model's requests in flight, held until ``release``."""

    model: str
    ticket: str
    _renewing: asyncio.Task[None] | None = field(default=None, repr=False)

    def _hold(self) -> None:
        self._renewing = asyncio.create_task(self._renew())

    async def _renew(self) -> None:
        holders = queue_keys(self.model)[2]
        while True:
            await asyncio.sleep(LEASE_MS / 3000)
            try:
                await (await _redis()).eval(_RENEW, 1, holders, self.ticket, LEASE_MS)
            except Exception as exc:  # noqa: BLE001 - the lease then lapses; the request goes on
                log.warning("admission: could not renew the lease on %s: %s", self.model, exc)

    async def release(self) -> None:
        if self._renewing is not None:
            self._renewing.cancel()
            self._renewing = None
        await _leave(self.model, self.ticket)


async def _leave(model: str, ticket: str) -> None:
    try:
        await (await _redis()).eval(_LEAVE, 3, *queue_keys(model), ticket)
    except Exception as exc:  # noqa: BLE001 - a lost ticket lapses by itself (alive / lease)
        log.warning("admission: could not leave the queue of %s: %s", model, exc)


async def acquire_slot(model: str, priority: int) -> Slot | None:
    """Wait for a slot on ``model`` at ``priority``; None when ``model`` is not gated or Redis is down.

    Raises ServiceUnavailableError after ``GATEWAY_PRIORITY_MAX_WAIT_S`` in the queue. A caller
    cancelled while waiting (client gone) leaves the queue."""
    settings = get_settings()
    capacity = settings.priority_limits.get(model)
    if capacity is None or not settings.priority_redis_url:
        return None
    ticket = uuid.uuid4().hex
    keys = queue_keys(model)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.priority_max_wait_s
    score = ""
    try:
        while True:
            try:
                admitted, raw_score = await (await _redis()).eval(
                    _TRY, 3, *keys, ticket, priority, score, capacity, LEASE_MS, STALE_MS
                )
            except Exception as exc:  # noqa: BLE001 - availability over ordering
                log.warning("admission: Redis unavailable, %s goes unqueued: %s", model, exc)
                await asyncio.shield(_leave(model, ticket))
                return None
            score = raw_score.decode() if isinstance(raw_score, bytes) else str(raw_score)
            if admitted == 1:
                slot = Slot(model, ticket)
                slot._hold()
                return slot
            if loop.time() >= deadline:
                raise ServiceUnavailableError(
                    f"Model {model} is at capacity: no slot freed up within {settings.priority_max_wait_s:g} s"
                )
            await asyncio.sleep(POLL_S)
    except BaseException:
        with contextlib.suppress(Exception):
            await asyncio.shield(_leave(model, ticket))
        raise
