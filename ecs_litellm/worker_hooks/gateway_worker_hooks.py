"""LiteLLM worker startup hook: the heap a worker builds to start goes out of the collector's reach.

LiteLLM runs it in each uvicorn worker (``LITELLM_WORKER_STARTUP_HOOKS``, template.yaml), before
the worker loads its config. Without it, every full collection of the cyclic garbage collector
walks the ~1.3 million objects LiteLLM's imports leave (its model price map, pydantic models,
modules) plus what its startup builds (router, database client): ~0.9 s with the event loop
stopped, so every request in flight waits, once every few hundred requests at load (README,
"LiteLLM's own cost"). Frozen objects are still freed when their reference count drops; only a
cycle among them would never be collected, which objects built to serve for the process's
lifetime do not form.

In two steps, because the hook runs before the config is loaded:

1. at once: the imports' heap (nearly all of it);
2. once the worker has started (the shared HTTP session, the last thing LiteLLM 1.108.7's
   startup builds, is in place) and settled: its cyclic garbage collected first, so that none of
   it is kept, then what startup built. If that never shows, it is done after ``GIVE_UP_S``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

__all__ = ["freeze_startup_heap"]

_log = logging.getLogger("gateway.worker_hooks")

POLL_S = 1.0
# After startup's end, LiteLLM's scheduler runs its first model-info refresh at once: let it finish.
SETTLE_S = 5.0
GIVE_UP_S = 600.0

_pending: set[asyncio.Task[None]] = set()  # a task the loop holds only weakly must be kept


async def freeze_startup_heap() -> None:
    """LITELLM_WORKER_STARTUP_HOOKS entry point (``gateway_worker_hooks:freeze_startup_heap``)."""
    gc.freeze()  # no collection first: it would walk the whole import heap (~0.9 s) at every start
    task = asyncio.get_running_loop().create_task(_freeze_once_started())
    _pending.add(task)
    task.add_done_callback(_pending.discard)


def _started() -> bool:
    from litellm.proxy import proxy_server  # already imported: LiteLLM runs the hook from it

    return getattr(proxy_server, "shared_aiohttp_session", None) is not None


async def _freeze_once_started() -> None:
    deadline = time.monotonic() + GIVE_UP_S
    while not _started() and time.monotonic() < deadline:
        await asyncio.sleep(POLL_S)
    await asyncio.sleep(SETTLE_S)
    gc.collect()
    gc.freeze()
    _log.info("startup heap frozen: %d objects", gc.get_freeze_count())
