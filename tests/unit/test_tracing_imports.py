"""Tracing on, as deployed (Tracing: Active): what a function's init imports, and when AWS calls
start being traced. Each case runs in a fresh interpreter: imports are per process."""

from __future__ import annotations

import os

from local.template import REPO_ROOT
from tests.unit.fresh_interpreter import run_probe

_PROBE = """
import json, sys
import {package}.app
from gateway_core import tracing
init = {{"tracing": tracing.enabled(), "botocore_client": "botocore.client" in sys.modules}}
tracing.trace_aws_calls()
tracing.trace_aws_calls()  # twice: patched once
from botocore.client import BaseClient
call = BaseClient.__dict__["_make_api_call"]  # wrapt's FunctionWrapper once patched
init["wrappers"] = 0
while type(call).__name__ == "FunctionWrapper":
    init["wrappers"] += 1
    call = call.__wrapped__
print(json.dumps(init))
"""


def _traced_init(package: str) -> dict[str, bool | int]:
    # As in Lambda: LAMBDA_TASK_ROOT is set (the X-Ray SDK then samples locally, without botocore).
    env = {**os.environ, "LAMBDA_TASK_ROOT": str(REPO_ROOT), "AWS_REGION": "us-east-1"}
    env.pop("POWERTOOLS_TRACE_DISABLED", None)
    result: dict[str, bool | int] = run_probe(package, _PROBE.format(package=package), env)
    return result


def test_a_traced_chat_function_starts_without_botocore_and_patches_it_once_when_first_needed() -> None:
    for package in ("openai_chat", "bedrock_runtime"):
        assert _traced_init(package) == {"tracing": True, "botocore_client": False, "wrappers": 1}, package
