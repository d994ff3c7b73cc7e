"""What the access middleware (log line, EMF metrics line, request id, overhead header) costs per
request: the OpenAI app in process, LiteLLM faked behind the seam and answering at once, with the
middleware and without it, interleaved in one run. Tracing is off (as on a cold start without
it); CPU time, so a busy machine slows both sides alike.

    .venv/bin/python -m bench.observability [requests per round]
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import statistics
import sys
import time
from typing import Any

from gateway_core.http import LiteLLMClient
from openai_chat.app import create_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.unit.asgi_transport import AsgiTransport

_ANSWER = json.dumps(
    {"id": "c", "choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": 3, "completion_tokens": 5}}
).encode()
_BODY = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()


async def _completions(request: Request) -> Response:
    await request.body()
    return Response(_ANSWER, media_type="application/json")


def _app(observed: bool) -> Any:
    litellm = Starlette(routes=[Route("/v1/chat/completions", _completions, methods=["POST"])])
    app = create_app(litellm=LiteLLMClient(AsgiTransport(litellm)))
    if not observed:
        app.user_middleware.clear()  # the same app without the access middleware
    return app


async def _request(app: Any) -> None:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "headers": [(b"authorization", b"Bearer sk-bench"), (b"content-type", b"application/json")],
        "server": ("bench", 80),
        "client": ("127.0.0.1", 1),
    }
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": _BODY, "more_body": False}
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(_: Any) -> None:
        return None

    await app(scope, receive, send)


async def _round(app: Any, requests: int) -> float:
    started = time.process_time()
    for _ in range(requests):
        await _request(app)
    return (time.process_time() - started) / requests * 1e6


async def measure(requests: int = 2000, rounds: int = 5) -> tuple[float, float]:
    """Median CPU microseconds per request (with the middleware, without it)."""
    apps = {True: _app(True), False: _app(False)}
    for app in apps.values():
        await _round(app, 200)  # warm up
    results: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(rounds):
        for observed, app in apps.items():
            results[observed].append(await _round(app, requests))
    return statistics.median(results[True]), statistics.median(results[False])


def main() -> None:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    sink = open(os.devnull, "w")  # noqa: SIM115 (for the whole run)
    logging.getLogger("gateway").handlers[0].setStream(sink)  # type: ignore[attr-defined]
    real_stdout, sys.stdout = sys.stdout, sink  # the EMF lines
    observed, bare = asyncio.run(measure(requests))
    sys.stdout = real_stdout
    print(f"per request, CPU: with the access middleware {observed:.1f} us, without {bare:.1f} us")
    print(f"the middleware adds {observed - bare:.1f} us ({(observed - bare) / bare:.0%})")


if __name__ == "__main__":
    main()
