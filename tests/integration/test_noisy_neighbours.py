"""One caller cannot hurt another, on the real local stack: a LiteLLM stall costs other callers
nothing, a caller's provider errors never throttle anyone else (while real outages still cool a
model down), and a revoked key stops reading history within the identity cache's 5 s, and
cannot delete at all. Figures the README quotes are printed with ``[figure]``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import psutil
import pytest
from botocore.exceptions import ClientError

from tests.integration.conftest import IDENTITY_CACHE_TTL_S, LocalStack
from tests.integration.test_bedrock_interface import hook_client
from tests.integration.test_history import post, start_session
from tests.integration.test_openai_interface import new_key

pytestmark = pytest.mark.integration
HI = [{"role": "user", "content": "hi"}]
ANSWER = "The quick brown fox jumps over the lazy"
UVICORN_DEFAULT_KEEPALIVE_S = 5


def _litellm(stack: LocalStack) -> psutil.Process:
    port = stack.litellm_url.rsplit(":", 1)[1]
    for process in psutil.process_iter(["cmdline"]):
        argv = process.info["cmdline"] or []
        if (
            any(a.endswith("/litellm") for a in argv[:2])
            and "--port" in argv
            and argv[argv.index("--port") + 1] == port
        ):
            return process
    raise AssertionError(f"no LiteLLM process serving port {port}")


def _until(deadline_s: float, check: Callable[[], bool]) -> float:
    """Poll ``check`` until it holds; return the seconds it took (fails past the deadline)."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < deadline_s, f"not within {deadline_s} s"
        time.sleep(0.05)
    return time.monotonic() - started


# -- a pool that survives its upstream ---------------------------------------------------------------


def test_a_litellm_stall_costs_the_other_callers_nothing(stack: LocalStack) -> None:
    """LiteLLM's event loop stops (as a request that blocks it would make it; here SIGSTOP) for
    longer than uvicorn's default keep-alive. Requests the gateway sent meanwhile on its pooled
    connections must be answered when it resumes, not reset."""
    client = stack.openai()
    assert client.chat.completions.create(model="fake-gpt", messages=HI).choices[0].message.content == ANSWER
    litellm = _litellm(stack)

    def chat(_: int) -> str:
        try:
            return str(client.chat.completions.create(model="fake-gpt", messages=HI).choices[0].message.content)
        except openai.APIError as exc:
            return f"failed: {exc}"

    litellm.suspend()
    try:
        with ThreadPoolExecutor(4) as pool:
            answers = pool.map(chat, range(4))  # sent into the stall
            time.sleep(UVICORN_DEFAULT_KEEPALIVE_S + 1)  # the stall itself, not a synchronisation
            litellm.resume()
            results = list(answers)
    finally:
        litellm.resume()
    failures = [r for r in results if r != ANSWER]
    print(
        f"\n[figure] requests failed for another caller during a {UVICORN_DEFAULT_KEEPALIVE_S + 1} s stall: {failures}"
    )
    assert failures == []


# -- tenant isolation of failures ------------------------------------------------------------------------


def _chat_as(stack: LocalStack, key: str, headers: dict[str, str] | None = None) -> int:
    try:
        stack.openai(key).chat.completions.create(model="fake-gpt", messages=HI, extra_headers=headers or {})
    except openai.APIStatusError as exc:
        return exc.status_code
    return 200


def _converse_as(stack: LocalStack, key: str) -> str:
    try:
        hook_client(stack, key).converse(modelId="fake-gpt", messages=[{"role": "user", "content": [{"text": "hi"}]}])
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return "ok"


@pytest.mark.parametrize("status", [401, 404])
def test_a_callers_provider_errors_never_throttle_another_caller(stack: LocalStack, status: int) -> None:
    noisy, quiet = new_key(stack), new_key(stack)
    _until(30, lambda: _chat_as(stack, quiet) == 200)  # no cooldown left by an earlier test
    provoked = {"x-fake-error-status": str(status)}
    with ThreadPoolExecutor(8) as pool:  # a burst, as a misbehaving client would send
        statuses = list(pool.map(lambda _: _chat_as(stack, noisy, provoked), range(24)))
    assert statuses == [status] * 24
    assert [_chat_as(stack, quiet) for _ in range(3)] == [200] * 3
    assert [_converse_as(stack, quiet) for _ in range(3)] == ["ok"] * 3


@pytest.mark.parametrize("status", [500, 429])
def test_a_real_provider_outage_still_cools_the_model_down(stack: LocalStack, status: int) -> None:
    noisy, quiet = new_key(stack), new_key(stack)
    _until(30, lambda: _chat_as(stack, quiet) == 200)  # no cooldown left by an earlier test
    outage = {"x-fake-error-status": str(status)}
    with ThreadPoolExecutor(8) as pool:
        burst = [pool.submit(_chat_as, stack, noisy, outage) for _ in range(8)]
        # While the provider fails for everyone, the model is taken out: callers are throttled.
        _until(20, lambda: _chat_as(stack, quiet) == 429)
        _until(20, lambda: _converse_as(stack, quiet) == "ThrottlingException")
        assert {future.result() for future in burst} <= {status, 429}
    recovered = _until(30, lambda: _chat_as(stack, quiet) == 200)  # and back once the cooldown ends
    print(f"\n[figure] provider {status} burst: model back {recovered:.1f} s after others saw the cooldown")


# -- revocation --------------------------------------------------------------------------------------------


def _refused(stack: LocalStack, key: str, session_id: str) -> bool:
    return post(stack, "/chat-history", key, {"session_id": session_id}).status_code == 401


@pytest.mark.parametrize("revoke", ["block", "delete"])
def test_a_revoked_key_stops_reading_history_within_five_seconds(stack: LocalStack, revoke: str) -> None:
    key = new_key(stack, user_id=f"revoked-{uuid.uuid4().hex[:8]}")
    session_id = start_session(stack.openai(key))
    assert post(stack, "/chat-history", key, {"session_id": session_id}).status_code == 200  # trusted from now
    admin = {"Authorization": f"Bearer {stack.master_key}"}
    body: dict[str, Any] = {"key": key} if revoke == "block" else {"keys": [key]}
    assert httpx.post(f"{stack.litellm_url}/key/{revoke}", headers=admin, json=body).status_code == 200
    delay = _until(IDENTITY_CACHE_TTL_S + 2, lambda: _refused(stack, key, session_id))
    print(f"\n[figure] revocation delay, key {revoke.rstrip('e')}ed in LiteLLM, history read: {delay:.2f} s")
    assert delay <= IDENTITY_CACHE_TTL_S + 0.5
    assert post(stack, "/session-ids", key).status_code == 401
    bedrock = post(stack, "/bedrock/chat-history", key, {"session_id": session_id})
    assert bedrock.status_code == 403 and bedrock.headers["x-amzn-ErrorType"] == "AccessDeniedException"


def test_a_key_blocked_a_moment_ago_cannot_delete(stack: LocalStack) -> None:
    key = new_key(stack, user_id=f"blocked-{uuid.uuid4().hex[:8]}")
    session_id = start_session(stack.openai(key))
    assert post(stack, "/chat-history", key, {"session_id": session_id}).status_code == 200  # cached as valid
    admin = {"Authorization": f"Bearer {stack.master_key}"}
    assert httpx.post(f"{stack.litellm_url}/key/block", headers=admin, json={"key": key}).status_code == 200
    refused = httpx.delete(f"{stack.gateway_url}/chat-history/{session_id}", headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 401 and refused.json()["error"]["type"] == "authentication_error"
    kept = post(stack, "/chat-history", stack.master_key, {"session_id": session_id})
    assert kept.status_code == 200 and len(kept.json()["messages"]) == 2


def test_an_expiring_key_is_not_trusted_past_its_expiry(stack: LocalStack) -> None:
    key = new_key(stack, user_id=f"expiring-{uuid.uuid4().hex[:8]}", duration="3s")
    issued = time.monotonic()
    session_id = start_session(stack.openai(key))
    assert post(stack, "/chat-history", key, {"session_id": session_id}).status_code == 200
    _until(10, lambda: _refused(stack, key, session_id))
    refused_after = time.monotonic() - issued
    print(f"\n[figure] a 3 s key refused {refused_after:.2f} s after it was issued")
    assert refused_after < 3 + 1.0  # not the 5 s the cache would otherwise trust it for
