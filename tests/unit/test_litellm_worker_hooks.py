"""The LiteLLM workers' startup hook (ecs_litellm/worker_hooks), run against the pinned LiteLLM as
a worker runs it: from its proxy server module, on a running loop."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from local.template import REPO_ROOT

LITELLM_PYTHON = REPO_ROOT / ".venv-litellm" / "bin" / "python"
pytestmark = pytest.mark.skipif(not LITELLM_PYTHON.exists(), reason="no .venv-litellm (make install)")

# The collector stays off, so that only the hook's own collection can free the cycle left behind.
PROBE = """
import asyncio, gc, json, weakref
gc.disable()
from litellm.proxy import proxy_server
import gateway_worker_hooks as hooks
hooks.POLL_S, hooks.SETTLE_S = 0.01, 0.0

class Node:
    pass

async def started_worker():
    assert proxy_server.shared_aiohttp_session is None
    await hooks.freeze_startup_heap()
    imports = gc.get_freeze_count()
    built = [[n] for n in range(50_000)]  # what startup builds and keeps (lists: tracked)
    a, b = Node(), Node()
    a.other, b.other = b, a
    left_behind = weakref.ref(a)  # a cycle startup drops
    del a, b
    await asyncio.sleep(0.2)  # twenty polls while the worker is still starting
    starting = gc.get_freeze_count()
    proxy_server.shared_aiohttp_session = object()  # startup's last step
    (task,) = hooks._pending
    await asyncio.wait_for(task, 10)
    return {
        "imports": imports, "starting": starting, "started": gc.get_freeze_count(),
        "cycle_kept": left_behind() is not None, "unfrozen": len(gc.get_objects()),
        "pending": len(hooks._pending), "built": len(built),
    }

async def never_started():
    proxy_server.shared_aiohttp_session = None
    hooks.GIVE_UP_S = 0.05
    await hooks.freeze_startup_heap()
    more = [[n] for n in range(20_000)]
    before = gc.get_freeze_count()
    (task,) = hooks._pending
    await asyncio.wait_for(task, 10)
    return {"given_up": gc.get_freeze_count() - before, "more": len(more)}

print(json.dumps({**asyncio.run(started_worker()), **asyncio.run(never_started())}))
"""


def test_a_worker_freezes_its_imports_at_once_and_what_startup_built_once_started() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT / "ecs_litellm" / "worker_hooks"),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch of LiteLLM's price map (no network)
    }
    out = subprocess.run(  # noqa: S603 (our own probe on the LiteLLM venv)
        [str(LITELLM_PYTHON), "-c", PROBE], env=env, capture_output=True, text=True, check=True, timeout=180
    ).stdout
    seen = json.loads(out.splitlines()[-1])
    assert seen["imports"] > 500_000  # LiteLLM's proxy leaves ~1-1.7M tracked objects, as installed
    # nothing more until startup's end (a few frozen objects are freed by their reference counts)
    assert abs(seen["starting"] - seen["imports"]) < 100
    assert seen["started"] - seen["starting"] >= 50_000
    assert seen["cycle_kept"] is False  # collected before the freeze, not frozen with the rest
    assert seen["unfrozen"] < 2_000
    assert seen["pending"] == 0
    assert seen["given_up"] >= 20_000  # a startup that never shows its end: frozen after GIVE_UP_S
