"""What a function builds at init is frozen out of the cyclic collector's reach (README,
Performance: a full collection of the warm heap otherwise costs ~20 ms on whichever request
triggers it). Imports are per process: each case runs in a fresh interpreter."""

from __future__ import annotations

import pytest

from tests.unit.fresh_interpreter import run_probe

_PROBE = """
import gc, json
import {package}.app
print(json.dumps({{"frozen": gc.get_freeze_count(), "tracked": len(gc.get_objects())}}))
"""


@pytest.mark.parametrize("package", ["openai_chat", "bedrock_runtime", "chat_history", "user_keys"])
def test_the_init_heap_is_frozen_once_the_app_module_is_imported(package: str) -> None:
    heap = run_probe(package, _PROBE.format(package=package))
    # Tens of thousands of objects frozen (the imports, the app), and next to none left to walk.
    assert heap["frozen"] > 10_000, heap
    assert heap["tracked"] < 200, heap
