"""CPU per request of each output a request leaves after its last byte (X-Ray segment, log line,
EMF line), and the log line with Powertools' own formatter (before) and ours (gateway_core.log_line),
interleaved in one run.

The OpenAI app in process, LiteLLM faked behind the seam (bench.observability), tracing on and
sending to a UDP socket of this process. Each variant turns on only the outputs it names; an
output's cost is its variant's time less the time with none on. CPU time, so a busy machine
slows every variant alike; for counts that do not depend on the load, run one variant under
callgrind, which counts only the measured requests (they run inside ``functools.reduce``):

    .venv/bin/python -m bench.outputs [requests per round] [rounds]
    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=functools_reduce \\
        .venv/bin/python -m bench.outputs --variant xray 200
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import os
import socket
import statistics
import sys
import time
from typing import Any

_daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
_daemon.bind(("127.0.0.1", 0))
os.environ["AWS_XRAY_DAEMON_ADDRESS"] = f"127.0.0.1:{_daemon.getsockname()[1]}"  # before tracing is imported
os.environ.pop("POWERTOOLS_TRACE_DISABLED", None)

from local.template import functions, load_template  # noqa: E402

sys.path += [str(spec.source_dir) for spec in functions(load_template())]  # the apps, as tests/conftest.py

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter  # noqa: E402
from gateway_core import metrics, tracing  # noqa: E402
from gateway_core.log_line import LineFormatter  # noqa: E402
from gateway_core.observability import log  # noqa: E402

from bench.observability import _app, _request  # noqa: E402

# variant -> (X-Ray segment on, log formatter, EMF on); None: the log line off.
_VARIANTS: dict[str, tuple[bool, str | None, bool]] = {
    "none": (False, None, False),
    "xray": (True, None, False),
    "log-powertools": (False, "powertools", False),
    "log-ours": (False, "ours", False),
    "emf": (False, None, True),
    "all-before": (True, "powertools", True),
    "all-after": (True, "ours", True),
}


class _Outputs:
    def __init__(self) -> None:
        tracing.prepare("openai-chat")
        self.handler: Any = log.handlers[0]
        self.handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 (for the whole run)
        self.formatters = {"powertools": LambdaPowertoolsFormatter(service="gateway"), "ours": LineFormatter("gateway")}

    def use(self, variant: str) -> None:
        xray, formatter, emf = _VARIANTS[variant]
        tracing._enabled = xray
        log.setLevel(logging.INFO if formatter is not None else logging.WARNING)
        if formatter is not None:
            self.handler.setFormatter(self.formatters[formatter])
        metrics._disabled = not emf


async def _requests(app: Any, count: int) -> None:
    for _ in range(count):
        await _request(app)


def _cpu_us(app: Any, count: int) -> float:
    started = time.process_time()
    asyncio.run(_requests(app, count))
    return (time.process_time() - started) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.outputs")
    parser.add_argument("requests", type=int, nargs="?", default=1000)
    parser.add_argument("rounds", type=int, nargs="?", default=7)
    parser.add_argument("--variant", choices=list(_VARIANTS), help="run only this variant (for callgrind)")
    args = parser.parse_args()
    app, outputs = _app(True), _Outputs()
    real_stdout, sys.stdout = sys.stdout, open(os.devnull, "w")  # noqa: SIM115 (the EMF lines)
    try:
        for variant in [args.variant] if args.variant else _VARIANTS:  # warm up every path taken
            outputs.use(variant)
            _cpu_us(app, 50)
        if args.variant:
            functools.reduce(lambda _, count: _cpu_us(app, count), [args.requests], 0.0)
            return
        times: dict[str, list[float]] = {variant: [] for variant in _VARIANTS}
        for _ in range(args.rounds):
            for variant in _VARIANTS:
                outputs.use(variant)
                times[variant].append(_cpu_us(app, args.requests))
    finally:
        sys.stdout = real_stdout
    median = {variant: statistics.median(values) for variant, values in times.items()}
    print(f"CPU per request, median of {args.rounds} rounds of {args.requests} (none on: {median['none']:.1f} us)")
    for variant in _VARIANTS:
        if variant != "none":
            print(f"  {variant:15s} +{median[variant] - median['none']:6.1f} us")


if __name__ == "__main__":
    main()
