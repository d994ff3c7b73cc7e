"""A local stand-in for API Gateway: one ASGI app that routes exactly as template.yaml does.

Function routes go to the functions' own apps (the code Lambda runs), in process; the
API's HTTP-proxy routes go to LiteLLM, as the VPC-link integration does in AWS. ``GET /health``
is local only: 200 once every component of the stack answers.

The plain listener runs on uvicorn (HTTP/1.1). The HTTPS listener runs on granian (Rust's hyper):
HTTP/2 by ALPN, which the AWS SDK for JavaScript v3's Bedrock Runtime client uses by default, and
HTTP/1.1 for everyone else. Not hypercorn: for an event stream that client sends GOAWAY as soon as
the response headers arrive (a graceful close: no new streams on this connection), and servers
built on the Python h2 library treat any GOAWAY as the end of the connection (python-hyper/h2#1181),
so the stream stopped after its first frames; hyper finishes the open streams as RFC 9113 §6.8 says.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
import time
from email.utils import formatdate
from pathlib import Path

import httpx
import uvicorn
from gateway_core.body_limit import limited_receive
from gateway_core.errors import PayloadTooLargeError, UpstreamError
from gateway_core.forwarding import forward, upstream_request
from gateway_core.h1_transport import Http1Transport
from gateway_core.http import LiteLLMClient
from gateway_core.openai_errors import openai_error_response
from gateway_core.server import HttpProtocol
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from local.template import LITELLM, FunctionSpec, Route, functions, load_routes, load_template

__all__ = ["LocalApiGateway", "create_gateway"]


def load_function_app(spec: FunctionSpec) -> ASGIApp:
    source = str(spec.source_dir)
    if source not in sys.path:
        sys.path.insert(0, source)
    module = importlib.import_module(f"{spec.package}.app")
    app: ASGIApp = module.app
    # One process serves every function here: each keeps its own service name (logs, metrics,
    # traces), as its own Lambda function would have.
    service = spec.environment.get("POWERTOOLS_SERVICE_NAME")
    if isinstance(service, str) and service:
        module.app.state.service = service
    return app


class LiteLLMPassthrough:
    """The HTTP-proxy integration: everything no function serves reaches LiteLLM unchanged."""

    def __init__(self) -> None:
        self.client = LiteLLMClient(Http1Transport())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, limited_receive(scope, receive))
        try:
            body = await request.body()
        except PayloadTooLargeError:  # API Gateway's own answer past 10 MB (the functions answer in their shape)
            await JSONResponse({"message": "Request Too Long"}, 413)(scope, receive, send)
            return
        try:
            # forward() relays LiteLLM's headers without its internal ones (gateway_core.internals).
            response = await forward(self.client, upstream_request(request, body), stream=True)
        except UpstreamError as error:  # LiteLLM down or stalled: a gateway status (502/504), never a 500
            response = openai_error_response(error)
        await response(scope, receive, send)


_date: tuple[int, bytes] = (0, b"")


def _http_date() -> bytes:
    """The current date as an HTTP ``date`` value, formatted once a second (as uvicorn does its own):
    formatting it is most of what the stand-in adds to an answer's head."""
    global _date  # noqa: PLW0603 (one cached value per process)
    now = int(time.time())
    if _date[0] != now:
        _date = (now, formatdate(now, usegmt=True).encode())
    return _date[1]


def _one_date_header(send: Send) -> Send:
    """One ``date`` header on every answer, the gateway's own, as API Gateway answers: LiteLLM's
    (relayed by the passthrough; the functions drop it) is replaced (uvicorn's is off, see main)."""

    async def send_with_date(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(name, value) for name, value in message.get("headers", []) if name.lower() != b"date"]
            headers.append((b"date", _http_date()))
            message = {**message, "headers": headers}
        await send(message)

    return send_with_date


class LocalApiGateway:
    def __init__(
        self,
        routes: list[Route],
        targets: dict[str, ASGIApp],
        passthrough: LiteLLMPassthrough,
        health_urls: dict[str, str],
    ) -> None:
        self.routes = routes
        self.targets = {**targets, LITELLM: passthrough}
        self.passthrough = passthrough
        self.health_urls = health_urls
        self._health_client: httpx.AsyncClient | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        await self._route(scope, receive, _one_date_header(send))

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/health" and scope["method"] in {"GET", "HEAD"}:
            await (await self._health())(scope, receive, send)
            return
        # API Gateway matches the path as sent: a %2F inside {modelId} stays in one segment.
        raw_path = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1").split("?", 1)[0]
        for route in self.routes:
            if route.matches(scope["method"], path):
                if route.upstream_path is not None:  # an integration with a fixed path, as API Gateway maps it
                    scope = {**scope, "path": route.upstream_path, "raw_path": route.upstream_path.encode()}
                await self.targets[route.target](scope, receive, send)
                return
        missing = JSONResponse(
            {"message": "Missing Authentication Token"},
            403,
            headers={"x-amzn-ErrorType": "MissingAuthenticationTokenException"},
        )
        await missing(scope, receive, send)

    async def _health(self) -> Response:
        client = self._health_client = self._health_client or httpx.AsyncClient(timeout=2, trust_env=False)

        async def check(url: str) -> bool:
            try:
                # answered without a server error: up (DynamoDB answers a bare GET with 400)
                return (await client.get(url)).status_code < 500
            except httpx.HTTPError:
                return False

        results = await asyncio.gather(*(check(url) for url in self.health_urls.values()))
        components = {
            name: "ready" if ok else "unavailable" for name, ok in zip(self.health_urls, results, strict=True)
        }
        ready = all(results)
        return JSONResponse(
            {"status": "ready" if ready else "starting", "components": components}, 200 if ready else 503
        )

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # Each function app holds its own LiteLLM client, as each Lambda function does.
                for target in self.targets.values():
                    client = getattr(getattr(target, "state", None), "litellm", None)
                    if isinstance(client, LiteLLMClient):
                        await client.aclose()
                await self.passthrough.client.aclose()
                if self._health_client is not None:
                    await self._health_client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_gateway(health_urls: dict[str, str] | None = None) -> LocalApiGateway:
    template = load_template()
    targets: dict[str, ASGIApp] = {spec.logical_id: load_function_app(spec) for spec in functions(template)}
    if health_urls is None:
        health_urls = json.loads(os.environ.get("LOCAL_HEALTH_URLS", "{}"))
    return LocalApiGateway(load_routes(template), targets, LiteLLMPassthrough(), health_urls)


def _serve_tls(host: str, port: int, certfile: str, keyfile: str) -> None:
    """The HTTPS listener (see the module docstring). granian imports the app in its worker
    process, from create_gateway; it stops cleanly on SIGINT/SIGTERM."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, SSLProtocols
    from granian.log import LogLevels

    Granian(
        "local.gateway:create_gateway",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        http=HTTPModes.auto,
        ssl_cert=Path(certfile),
        ssl_key=Path(keyfile),
        ssl_protocol_min=SSLProtocols.tls12,  # as API Gateway's TLS_1_2 security policy
        log_level=LogLevels.warning,
    ).serve()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m local.gateway")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--ssl-certfile")
    parser.add_argument("--ssl-keyfile")
    args = parser.parse_args()
    if args.ssl_certfile:
        _serve_tls(args.host, args.port, args.ssl_certfile, args.ssl_keyfile)
        return
    uvicorn.run(
        create_gateway(),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=60,
        http=HttpProtocol,  # as run.sh starts the functions: a response's head leaves with its body
        date_header=False,  # the gateway sets the one date header itself (_one_date_header)
        server_header=False,  # API Gateway names no server; nor do the functions (run.sh)
        proxy_headers=False,  # as run.sh: nothing reads X-Forwarded-* here
    )


if __name__ == "__main__":
    main()
