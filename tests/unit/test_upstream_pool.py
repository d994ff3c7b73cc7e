"""The real transport (gateway_core.h1_transport) against a server that closes its connections under the pool.

What a LiteLLM restart or crash does to our pool, at the socket level: idle connections closed
(FIN or RST) while the gateway's event loop is busy, so the pool still holds them as alive; a
connection that dies after our request reached it. Run on both event loops the gateway uses
(asyncio here and in tests, uvloop under uvicorn and the Lambda Web Adapter).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
import uvicorn
import uvloop
from gateway_core.errors import UpstreamUnavailableError
from gateway_core.h1_transport import Http1Transport
from gateway_core.http import UpstreamRequest
from gateway_core.settings import Settings

from local.template import litellm_task_setting, load_template
from tests.unit.scripted_upstream import Received, ScriptedUpstream

CHAT = UpstreamRequest(
    "POST", "/v1/chat/completions", [("content-type", "application/json")], b'{"model":"m","messages":[]}'
)
KEY_INFO = UpstreamRequest("GET", "/key/info", [("authorization", "Bearer sk-x")], b"")
Runner = Callable[[Coroutine[Any, Any, Any]], Any]


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Runner:
    return asyncio.run if request.param == "asyncio" else uvloop.run  # type: ignore[no-any-return]


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    server = ScriptedUpstream()
    yield server
    server.close()


async def _status(transport: Http1Transport, request: UpstreamRequest) -> int:
    response = await transport.send(request)
    await response.read()
    await response.close(reuse=True)
    return response.status_code


def _transport(upstream: ScriptedUpstream) -> Http1Transport:
    return Http1Transport(Settings(litellm_base_url=upstream.url, litellm_read_timeout_s=5))


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
def test_connections_closed_by_a_restart_cost_the_next_callers_nothing(
    run: Runner, upstream: ScriptedUpstream, reset: bool
) -> None:
    async def scenario() -> list[int]:
        transport = _transport(upstream)
        try:
            first = await asyncio.gather(*[_status(transport, CHAT) for _ in range(3)])  # three pooled connections
            # LiteLLM restarts: it closes its idle connections. This call blocks the event loop, as a
            # busy gateway's loop is, so the pool has not seen the closes when the next requests start.
            upstream.close_idle(reset=reset)
            after = [await _status(transport, CHAT) for _ in range(3)]
            return first + after
        finally:
            await transport.aclose()

    assert run(scenario()) == [200] * 6
    # Nothing was sent twice: each request arrived once, the three later ones on one new connection.
    assert [r.body for r in upstream.received] == [CHAT.content] * 6
    assert upstream.connections_accepted == 4
    assert {r.connection for r in upstream.received[3:]} == {3}


def test_a_post_that_reached_a_dying_upstream_is_not_sent_again(run: Runner, upstream: ScriptedUpstream) -> None:
    """Once the body was written, LiteLLM may have acted on it (a paid completion): no retry."""

    async def scenario() -> None:
        transport = _transport(upstream)
        try:
            assert await _status(transport, CHAT) == 200
            upstream.next_ending = "drop_after_reading"
            with pytest.raises(UpstreamUnavailableError):
                await transport.send(CHAT)
        finally:
            await transport.aclose()

    run(scenario())
    assert upstream.received == [Received(0, "POST", CHAT.path, CHAT.content)] * 2


def test_an_idempotent_request_is_retried_once_on_a_new_connection(run: Runner, upstream: ScriptedUpstream) -> None:
    """GET /key/info (and DELETE) may be sent again (RFC 9112 9.3.1): once, on a new connection."""

    async def scenario() -> int:
        transport = _transport(upstream)
        try:
            assert await _status(transport, KEY_INFO) == 200
            upstream.next_ending = "drop_after_reading"
            return await _status(transport, KEY_INFO)
        finally:
            await transport.aclose()

    assert run(scenario()) == 200
    assert [(r.connection, r.method) for r in upstream.received] == [(0, "GET"), (0, "GET"), (1, "GET")]


def test_a_post_refused_before_any_byte_was_written_is_retried_once(
    run: Runner, upstream: ScriptedUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop may learn that LiteLLM closed a pooled connection after we picked it and before
    the request is written: nothing goes out on a closing connection, and the request is sent
    once more."""
    from gateway_core import h1_transport

    original = h1_transport._Pool.acquire
    closed_under_us: list[bool] = []

    async def acquire_then_peer_closes(self: Any) -> Any:
        connection, reused = await original(self)
        if reused and not closed_under_us:  # the first reuse only
            closed_under_us.append(True)
            connection.transport.close()  # what the loop does when it reads the peer's FIN
        return connection, reused

    monkeypatch.setattr(h1_transport._Pool, "acquire", acquire_then_peer_closes)

    async def scenario() -> list[int]:
        transport = _transport(upstream)
        try:
            return [await _status(transport, CHAT), await _status(transport, CHAT)]
        finally:
            await transport.aclose()

    assert run(scenario()) == [200, 200]
    assert closed_under_us == [True]
    assert [(r.connection, r.body) for r in upstream.received] == [(0, CHAT.content), (1, CHAT.content)]


async def _dropped_get(upstream: ScriptedUpstream, *, pooled: int, drops: int) -> str:
    """``pooled`` idle connections, then a GET whose next ``drops`` tries are dropped: the error it
    ends with."""
    transport = _transport(upstream)
    try:
        await asyncio.gather(*[_status(transport, KEY_INFO) for _ in range(pooled)])
        upstream.drops = drops
        with pytest.raises(UpstreamUnavailableError) as caught:
            await transport.send(KEY_INFO)
        return caught.value.message
    finally:
        await transport.aclose()


def test_an_idempotent_request_is_sent_again_once_only(run: Runner, upstream: ScriptedUpstream) -> None:
    """A GET dropped on its reused connection and again on the new one: a 502, not a third try."""
    assert (
        run(_dropped_get(upstream, pooled=1, drops=2)) == "LiteLLM is unreachable (connection closed before the answer)"
    )
    assert [r.connection for r in upstream.received] == [0, 0, 1]


def test_a_get_is_resent_once_even_with_more_pooled_connections_to_try(run: Runner, upstream: ScriptedUpstream) -> None:
    """Three idle connections, each dropping what it reads: one resend, on the next pooled one,
    then a 502; not a walk through the whole pool."""
    assert (
        run(_dropped_get(upstream, pooled=3, drops=3)) == "LiteLLM is unreachable (connection closed before the answer)"
    )
    assert len(upstream.received) == 3 + 2


def test_a_request_whose_connections_keep_closing_is_tried_twice_then_fails(
    run: Runner, upstream: ScriptedUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway_core import h1_transport

    original = h1_transport._Pool.acquire
    acquired: list[bool] = []

    async def acquire_then_peer_closes(self: Any) -> Any:
        connection, reused = await original(self)
        acquired.append(reused)
        connection.transport.close()  # every time: the loop keeps seeing the peer's FIN
        return connection, reused

    monkeypatch.setattr(h1_transport._Pool, "acquire", acquire_then_peer_closes)

    async def scenario() -> str:
        transport = _transport(upstream)
        try:
            with pytest.raises(UpstreamUnavailableError) as caught:
                await transport.send(CHAT)
            return caught.value.message
        finally:
            await transport.aclose()

    assert run(scenario()) == "LiteLLM is unreachable (connection closed before the request)"
    assert (acquired, upstream.received) == ([False, False], [])  # nothing was ever written


def test_our_idle_keepalive_ends_before_litellms_and_the_load_balancers() -> None:
    """The peer must never close an idle connection before we stop reusing it. Locally the peer
    is LiteLLM's uvicorn; in AWS the internal ALB, and behind it LiteLLM again."""
    ours = Settings().litellm_keepalive_s
    uvicorn_default = inspect.signature(uvicorn.Config).parameters["timeout_keep_alive"].default
    template = load_template()
    alb = template["Resources"]["LiteLLMLoadBalancer"]["Properties"]["LoadBalancerAttributes"]
    alb_idle = int(next(a["Value"] for a in alb if a["Key"] == "idle_timeout.timeout_seconds"))
    litellm_keepalive = int(litellm_task_setting("KEEPALIVE_TIMEOUT", template))
    assert (ours, uvicorn_default, alb_idle, litellm_keepalive) == (4.0, 5, 900, 905)
    # ...and LiteLLM outlives the ALB's idle timeout, as AWS asks of targets (else the ALB answers 502).
    assert ours < uvicorn_default < alb_idle < litellm_keepalive
