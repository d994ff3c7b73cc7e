"""The Lambda-shaped check: `sam build`'s output run the way Lambda runs it (local/lambda_shape.py),
against the local stack's LiteLLM and DynamoDB.

Buffered functions answer every events/*.json routed to them through AWS's Runtime Interface
Emulator; streaming functions are started from their handler script as the Lambda Web Adapter
starts them and answer their events over HTTP, streams included. A wrong run.sh, handler name,
layer layout or environment fails here, not in the first deployed request.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.lambda_shape import BuiltFunction, LambdaShape, build, built_functions, python313
from local.template import LITELLM, REPO_ROOT, load_routes
from tests.integration.conftest import LocalStack
from tests.integration.test_events_invoke import assert_answers, with_real_session

pytestmark = pytest.mark.integration
EVENTS = sorted((REPO_ROOT / "events").glob("*.json"))


def target(event: dict[str, Any]) -> str:
    route = next(r for r in load_routes() if r.target != LITELLM and r.matches(event["httpMethod"], event["path"]))
    return route.target


@pytest.fixture(scope="module")
def functions() -> dict[str, BuiltFunction]:
    if os.geteuid() != 0:
        pytest.fail("the Lambda-shaped check mounts the build in a private namespace: it must run as root")
    return {f.logical_id: f for f in built_functions(build())}


@pytest.fixture(scope="module")
def shape(
    stack: LocalStack, functions: dict[str, BuiltFunction], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LambdaShape]:
    local = {  # the template's values that name deployed resources, and their local stand-ins
        "GATEWAY_LITELLM_BASE_URL": stack.litellm_url,
        "GATEWAY_HISTORY_TABLE": "gateway-history",
        "GATEWAY_MASTER_KEY_SECRET_ARN": "",  # Secrets Manager: the key is given directly below
        "GATEWAY_PRIORITY_REDIS_URL": "",  # ElastiCache of the priority queues: none here
        "GATEWAY_PRIORITY_REDIS_AUTH_SECRET_ARN": "",
    }
    extra = {
        "GATEWAY_LITELLM_MASTER_KEY": stack.master_key,
        "AWS_ENDPOINT_URL_DYNAMODB": stack.dynamodb_url,
        "AWS_ENDPOINT_URL_BEDROCK_AGENT": stack.fake_url,
        "AWS_ACCESS_KEY_ID": "local",  # Lambda's role credentials
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_SESSION_TOKEN": "local",
    }
    runner = LambdaShape(REPO_ROOT / ".aws-sam" / "build-x86_64", tmp_path_factory.mktemp("lambda-shape"), local, extra)
    yield runner
    runner.stop()


@pytest.fixture(scope="module")
def streaming_urls(shape: LambdaShape, functions: dict[str, BuiltFunction]) -> dict[str, str]:
    return {name: shape.start_streaming(f) for name, f in functions.items() if f.streams}


@pytest.fixture(scope="module")
def invoke_urls(shape: LambdaShape, functions: dict[str, BuiltFunction]) -> dict[str, str]:
    return {name: shape.start_buffered(f) for name, f in functions.items() if not f.streams}


def test_every_function_is_built_and_checked(functions: dict[str, BuiltFunction]) -> None:
    built = functions.values()
    assert {f.logical_id: f.streams for f in built} == {
        "OpenAIChatFunction": True,
        "BedrockRuntimeFunction": True,
        "ChatHistoryFunction": False,
        "UserKeysFunction": False,
    }
    assert {target(json.loads(p.read_text())) for p in EVENTS} == {f.logical_id for f in built}


# Run by the layers' own interpreter: a pyc's header (magic number, source hash) is version-specific.
_BYTECODE_AUDIT = """
import importlib.util, json, pathlib, sys
core, bytecode = (pathlib.Path(p) / "python" for p in sys.argv[1:3])
missing, stale, unchecked, sources = [], [], [], 0
for source in sorted(core.rglob("*.py")):
    relative = source.relative_to(core)
    if not all(part.isidentifier() for part in relative.parts[:-1]):
        continue  # not importable (a wheel's *.data/scripts, which sam build unpacks as they are)
    sources += 1
    pyc = bytecode / relative.parent / "__pycache__" / f"{source.stem}.{sys.implementation.cache_tag}.pyc"
    if not pyc.exists():
        missing.append(str(relative))
        continue
    header = pyc.read_bytes()[:16]
    flags = int.from_bytes(header[4:8], "little")
    if header[:4] != importlib.util.MAGIC_NUMBER or flags != 0b11:  # hash-based, source checked
        unchecked.append(str(relative))
    elif header[8:16] != importlib.util.source_hash(source.read_bytes()):
        stale.append(str(relative))
print(json.dumps({"sources": sources, "missing": missing, "stale": stale, "unchecked": unchecked}))
"""


def test_the_bytecode_layer_holds_a_checked_pyc_of_every_core_layer_source(functions: dict[str, BuiltFunction]) -> None:
    """Lambda's /opt is read-only: a module without its pyc there is compiled on every cold start."""
    built = build()
    audit = subprocess.run(  # noqa: S603 (our own script)
        [str(python313()), "-c", _BYTECODE_AUDIT, str(built / "CoreLayer"), str(built / "BytecodeLayer")],
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(audit.stdout)
    assert found["sources"] > 1000  # the layer's packages, not an empty folder
    assert (found["missing"], found["stale"], found["unchecked"]) == ([], [], [])


@pytest.mark.parametrize("event_path", EVENTS, ids=lambda p: p.stem)
def test_built_function_answers_its_event(
    stack: LocalStack,
    functions: dict[str, BuiltFunction],
    streaming_urls: dict[str, str],
    invoke_urls: dict[str, str],
    event_path: Path,
) -> None:
    event = with_real_session(stack, json.loads(event_path.read_text()))
    name = target(event)
    if functions[name].streams:
        raw = _over_http(streaming_urls[name], event)
    else:
        response = httpx.post(invoke_urls[name], json=event, timeout=60)
        assert response.status_code == 200, response.text
        result = response.json()
        assert result.get("statusCode") == 200, result
        raw = _body(result)
    assert_answers(event, raw)


def _body(result: dict[str, Any]) -> bytes:
    return base64.b64decode(result["body"]) if result.get("isBase64Encoded") else str(result["body"]).encode()


def _over_http(base: str, event: dict[str, Any]) -> bytes:
    """The event as the adapter turns it into a request; a stream must arrive in pieces."""
    headers = {k: v for k, v in (event.get("headers") or {}).items() if k.lower() != "host"}
    streamed = "stream" in event["path"] or json.loads(event.get("body") or "{}").get("stream")
    if streamed:  # the fake provider paces its chunks, so arrival in pieces is observable
        headers.update({"x-fake-chunks": "4", "x-fake-chunk-delay-ms": "100"})
    chunks: list[bytes] = []
    body = event.get("body") or b""
    with httpx.stream(event["httpMethod"], base + event["path"], headers=headers, content=body, timeout=60) as response:
        assert response.status_code == 200, response.read()
        assert "server" not in response.headers  # run.sh: what serves the API is not the caller's business
        chunks.extend(response.iter_raw())
    if streamed:
        assert len(chunks) > 1, "the stream arrived in one piece"
    return b"".join(chunks)
