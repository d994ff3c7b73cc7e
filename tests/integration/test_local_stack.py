"""The local stack behaves like the deployed one where a client can tell: one ``date`` header on
every answer (API Gateway's), whoever produced the body; and its start is quiet."""

from __future__ import annotations

import re
from email.utils import parsedate_to_datetime

import httpx
import psutil
import pytest

from local.template import REPO_ROOT, litellm_task_setting
from tests.integration.conftest import LocalStack

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/models", None),  # LiteLLM, through the passthrough (LiteLLM sends its own date)
        ("POST", "/v1/chat/completions", {"model": "fake-gpt", "messages": [{"role": "user", "content": "hi"}]}),
        (
            "POST",
            "/chat/completions",
            {"model": "fake-gpt", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        ),
        ("GET", "/health", None),  # the local gateway's own
        ("GET", "/no-such-route", None),  # API Gateway's 403
    ],
)
def test_one_date_header_and_no_server(
    stack: LocalStack, method: str, path: str, body: dict[str, object] | None
) -> None:
    headers = {"Authorization": f"Bearer {stack.master_key}"}
    response = httpx.request(method, f"{stack.gateway_url}{path}", headers=headers, json=body, timeout=30)
    dates = response.headers.get_list("date")
    assert len(dates) == 1, dates
    assert parsedate_to_datetime(dates[0]).tzinfo is not None
    assert "server" not in response.headers  # not uvicorn's, not LiteLLM's: API Gateway names none


def test_litellm_starts_without_warnings(stack: LocalStack) -> None:
    """Nothing error-looking in a normal start (what follows it belongs to the tests, some of which
    make LiteLLM fail on purpose): no migration-diff failure, no unset trusted proxies, no
    half-priced fake models."""
    log = (stack.logs / "litellm.log").read_text(errors="replace")
    start = log.split("Application startup complete", 1)[0]
    assert "Application startup complete" in log
    noisy = [line for line in start.splitlines() if re.search(r"WARNING|ERROR|Traceback|[Ff]ailed", line)]
    assert noisy == []


def test_litellm_runs_the_tasks_worker_startup_hook(stack: LocalStack) -> None:
    """As the task runs it (template.yaml): the hook that freezes each worker's startup heap,
    importable from the checkout (ecs_litellm/worker_hooks) as from the image's site-packages."""
    port = stack.litellm_url.rsplit(":", 1)[1]
    (litellm,) = [
        p
        for p in psutil.process_iter(["cmdline"])
        if "--config" in (p.info["cmdline"] or []) and port in p.info["cmdline"]
    ]
    env = litellm.environ()
    assert env["LITELLM_WORKER_STARTUP_HOOKS"] == litellm_task_setting("LITELLM_WORKER_STARTUP_HOOKS")
    assert env["LITELLM_WORKER_STARTUP_HOOKS"] == "gateway_worker_hooks:freeze_startup_heap"
    assert str(REPO_ROOT / "ecs_litellm" / "worker_hooks") in env["PYTHONPATH"].split(":")
