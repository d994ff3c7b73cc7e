"""LiteLLM down, silent or cutting a stream: bounded-time 502/504 or an in-band error, never a hang.

The gateway runs as its own process (python -m local.gateway) against stand-ins for LiteLLM that
misbehave at the socket level, which a real LiteLLM cannot be made to do on demand.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from local.processes import free_port
from local.template import REPO_ROOT

HI = [{"role": "user", "content": "hi"}]


def _serve(handle: Callable[[socket.socket], None]) -> tuple[int, Callable[[], None]]:
    """A raw TCP server on 127.0.0.1 running ``handle`` per connection, until stopped."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def loop() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:  # closed by close()
                return
            held.append(connection)
            threading.Thread(target=serve_one, args=(connection,), daemon=True).start()

    def serve_one(connection: socket.socket) -> None:
        try:
            handle(connection)
        except OSError:
            if not stop.is_set():  # the stand-in failed by itself: the test must see it
                raise
            # else close() closed the connection under a handler still reading: the test is over

    threading.Thread(target=loop, daemon=True).start()

    def close() -> None:
        stop.set()
        for connection in held:
            connection.close()
        server.close()

    return server.getsockname()[1], close


def _silent(connection: socket.socket) -> None:
    connection.recv(65536)  # read the request, never answer


def _cut_stream(connection: socket.socket) -> None:
    connection.recv(65536)
    chunk = (
        b'data: {"id":"x","object":"chat.completion.chunk","created":0,"model":"m",'
        b'"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}\n\n'
    )
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    connection.sendall(head + f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
    connection.shutdown(socket.SHUT_WR)  # mid-stream, without the terminating chunk (FIN after the chunk)
    connection.settimeout(30)
    while connection.recv(65536):  # until the gateway, having relayed the chunk, drops the connection
        pass
    connection.close()


def _start_gateway(litellm_port: int, read_timeout_s: int) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    env = {
        **os.environ,
        "GATEWAY_LITELLM_BASE_URL": f"http://127.0.0.1:{litellm_port}",
        "GATEWAY_LITELLM_CONNECT_TIMEOUT_S": "1",
        "GATEWAY_LITELLM_READ_TIMEOUT_S": str(read_timeout_s),
    }
    process = subprocess.Popen([sys.executable, "-m", "local.gateway", "--port", str(port)], env=env, cwd=REPO_ROOT)  # noqa: S603
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=1)  # noqa: S310
            return url, process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:  # never carry on without it
                process.kill()
                pytest.fail(f"the gateway did not start (exit status {process.poll()})")
            time.sleep(0.1)


@pytest.fixture
def gateway_to() -> Iterator[Callable[..., str]]:
    """Start a gateway whose LiteLLM is at ``litellm_port``: ``gateway_to(port, read_timeout_s=1)``."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(litellm_port: int, read_timeout_s: int = 1) -> str:
        url, process = _start_gateway(litellm_port, read_timeout_s)
        processes.append(process)
        return url

    yield start
    for process in processes:
        process.terminate()
        process.wait(10)


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="sk-any", max_retries=0, timeout=30)


def test_litellm_unreachable_is_a_quick_502(gateway_to: Callable[[int], str]) -> None:
    url = gateway_to(free_port())  # nothing listens there
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as caught:
        _client(url).chat.completions.create(model="fake-gpt", messages=HI)
    assert caught.value.status_code == 502
    assert caught.value.body["type"] == "api_error" and "unreachable" in caught.value.body["message"]  # type: ignore[index]
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("stream", [False, True])
def test_litellm_silent_is_a_504_after_the_read_timeout(gateway_to: Callable[[int], str], stream: bool) -> None:
    port, close = _serve(_silent)
    try:
        url = gateway_to(port)
        started = time.monotonic()
        with pytest.raises(openai.APIStatusError) as caught:
            _client(url).chat.completions.create(model="fake-gpt", messages=HI, stream=stream)
        assert caught.value.status_code == 504
        assert 0.9 < time.monotonic() - started < 5
    finally:
        close()


def test_stream_cut_by_litellm_ends_with_an_error_event(gateway_to: Callable[[int], str]) -> None:
    port, close = _serve(_cut_stream)
    try:
        stream = _client(gateway_to(port)).chat.completions.create(model="fake-gpt", messages=HI, stream=True)
        received = []
        with pytest.raises(openai.APIError, match="unreachable"):
            for chunk in stream:
                received.append(chunk.choices[0].delta.content)
        assert received == ["Hel"]
    finally:
        close()


def _boto3(url: str) -> Any:
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=f"{url}/bedrock",
        config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}),
    )
    client.meta.events.register(
        "request-created.*", lambda request, **_: request.headers.__setitem__("Authorization", "Bearer sk-any")
    )
    return client


def test_bedrock_litellm_silent_is_model_timeout(gateway_to: Callable[[int], str]) -> None:
    from botocore.exceptions import ClientError

    port, close = _serve(_silent)
    try:
        with pytest.raises(ClientError) as caught:
            _boto3(gateway_to(port)).converse(modelId="m", messages=[{"role": "user", "content": [{"text": "hi"}]}])
        assert caught.value.response["Error"]["Code"] == "ModelTimeoutException"
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 408
    finally:
        close()


def test_bedrock_stream_cut_is_an_exception_frame(gateway_to: Callable[[int], str]) -> None:
    from botocore.exceptions import EventStreamError

    port, close = _serve(_cut_stream)
    try:
        stream = _boto3(gateway_to(port)).converse_stream(
            modelId="m", messages=[{"role": "user", "content": [{"text": "hi"}]}]
        )["stream"]
        events = []
        with pytest.raises(EventStreamError, match="serviceUnavailableException|ServiceUnavailable"):
            for event in stream:
                events.append(event)
        assert events[1]["contentBlockDelta"]["delta"]["text"] == "Hel"
    finally:
        close()


def test_client_disconnect_stops_the_upstream_read(gateway_to: Callable[[int], str]) -> None:
    closed = threading.Event()

    def endless(connection: socket.socket) -> None:
        connection.recv(65536)
        connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        chunk = b'data: {"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}\n\n'
        try:
            for _ in range(600):  # up to 60 s of tokens unless the gateway hangs up
                connection.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                time.sleep(0.1)
        except OSError:
            closed.set()

    port, close = _serve(endless)
    try:
        import httpx

        url = gateway_to(port)
        body = {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}
        with httpx.stream(
            "POST", f"{url}/bedrock/model/m/converse-stream", json=body, headers={"Authorization": "Bearer sk-any"}
        ) as response:
            next(response.iter_bytes())  # the stream is flowing; now the client goes away
        assert closed.wait(5), "the gateway kept reading from LiteLLM after the client left"
    finally:
        close()


def _one_chunk_then_silence(closed: threading.Event) -> Callable[[socket.socket], None]:
    """A stream that sends one chunk, then nothing for a minute (a model thinking), and sets
    ``closed`` when the gateway hangs up on it."""

    def handle(connection: socket.socket) -> None:
        connection.recv(65536)
        chunk = b'data: {"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}\n\n'
        head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
        connection.sendall(head + f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        connection.settimeout(60)
        try:
            if connection.recv(65536) == b"":  # the gateway closed its end
                closed.set()
        except OSError:  # reset by the gateway, or closed by the test's end
            closed.set()

    return handle


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"model": "m", "messages": HI, "stream": True}),
        ("/bedrock/model/m/converse-stream", {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}),
    ],
)
def test_client_leaving_a_silent_stream_closes_the_upstream_at_once(
    gateway_to: Callable[..., str], path: str, body: dict[str, Any]
) -> None:
    """No next chunk is needed to notice: a model silent for a minute is not read (and paid) for
    a minute after its client left."""
    closed = threading.Event()
    port, close = _serve(_one_chunk_then_silence(closed))
    try:
        import httpx

        with httpx.stream(
            "POST",
            f"{gateway_to(port, read_timeout_s=60)}{path}",
            json=body,
            headers={"Authorization": "Bearer sk-any"},
        ) as response:
            assert response.status_code == 200
            next(response.iter_bytes())  # the first chunk arrived; the model is silent; the client leaves
        assert closed.wait(5), "the gateway held LiteLLM's silent stream open after the client left"
    finally:
        close()


def test_bedrock_litellm_down_is_service_unavailable(gateway_to: Callable[[int], str]) -> None:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as caught:
        _boto3(gateway_to(free_port())).converse(
            modelId="fake-gpt", messages=[{"role": "user", "content": [{"text": "hi"}]}]
        )
    assert caught.value.response["Error"]["Code"] == "ServiceUnavailableException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
