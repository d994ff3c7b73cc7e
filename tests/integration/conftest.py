"""The real local stack, started once per test session exactly as `make dev` starts it.

Teardown is a test too: Ctrl-C (SIGINT) must stop every process and free every port.
A component that cannot start fails the run with the runner's own message (never a skip).
"""

from __future__ import annotations

import json
import os
import signal
import uuid
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from openai import OpenAI

from local.launch import StackStartError, launch_stack
from local.okta import okta_dir
from local.processes import free_port, port_in_use, trouble_lines
from local.template import REPO_ROOT
from tests.integration.okta_issuer import AUDIENCE as OKTA_AUDIENCE
from tests.integration.okta_issuer import OktaIssuer

MASTER_KEY = "sk-local-master"  # the events/*.json fixtures carry it too
JWKS_MIN_REFRESH_S = 1.0
OKTA_GROUP_TEAMS = {"okta-engineering": "team-engineering"}
STACK_DATA_DIR = REPO_ROOT / ".local" / "test-stack"
IDENTITY_CACHE_TTL_S = 5.0  # the product default (gateway_core.settings): the revocation tests measure it
# The machine's Redis holds the admission queues, under a prefix of this session's own.
PRIORITY_REDIS_URL = "redis://127.0.0.1:6379/0"
PRIORITY_KEY_PREFIX = f"gateway-test-admission:{uuid.uuid4().hex}"
PRIORITY_LIMITS = {"fake-gpt-narrow": 1}  # local.litellm_config.NARROW_MODEL, one in flight


@dataclass(frozen=True)
class LocalStack:
    gateway_url: str
    litellm_url: str
    fake_url: str
    master_key: str
    tls_url: str
    tls_cafile: Path
    dynamodb_url: str
    logs: Path  # the stack's log folder: gateway.log (log and EMF lines), xray-segments.jsonl

    def openai(self, api_key: str | None = None, **options: object) -> OpenAI:
        return OpenAI(base_url=f"{self.gateway_url}/v1", api_key=api_key or self.master_key, max_retries=0, **options)  # type: ignore[arg-type]


# A failing test's report quotes what the stack's logs said went wrong while it ran: a 500 from
# LiteLLM in CI is otherwise a status without its cause, since CI keeps only pytest's output.
_LOG_OFFSETS = pytest.StashKey[dict[Path, int]]()


def pytest_runtest_setup(item: pytest.Item) -> None:
    logs = STACK_DATA_DIR / "logs"
    item.stash[_LOG_OFFSETS] = {log: log.stat().st_size for log in logs.glob("*.log")} if logs.is_dir() else {}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if not report.failed or "stack" not in getattr(item, "fixturenames", ()):
        return report
    offsets = item.stash.get(_LOG_OFFSETS, {})
    for log in sorted((STACK_DATA_DIR / "logs").glob("*.log")):
        with log.open("rb") as file:
            offset = offsets.get(log, 0)
            file.seek(offset if offset <= log.stat().st_size else 0)  # 0: rotated as the stack started
            written = file.read().decode(errors="replace")
        if quoted := trouble_lines(written, most=30):
            report.sections.append((f"{log.name}: what went wrong while the test ran", "\n".join(quoted)))
    return report


@pytest.fixture(scope="session")
def okta() -> Iterator[OktaIssuer]:
    issuer = OktaIssuer(okta_dir(STACK_DATA_DIR), OKTA_AUDIENCE)  # `python -m local.okta token` signs for it
    yield issuer
    issuer.close()


@pytest.fixture(scope="session")
def stack(okta: OktaIssuer) -> Iterator[LocalStack]:
    ports = {
        name: free_port()
        for name in ("GATEWAY_PORT", "GATEWAY_TLS_PORT", "LITELLM_PORT", "FAKE_PROVIDER_PORT", "DYNAMODB_PORT")
    }
    data_dir = STACK_DATA_DIR
    # History on moto, in memory: every session starts empty, as the tests expect, and no JVM
    # competes with LiteLLM's start. DynamoDB Local (make dev's store) has its own tests.
    env = {"LITELLM_MASTER_KEY": MASTER_KEY, "LOCAL_DYNAMODB": "moto"}
    env.update(
        OKTA_ISSUER=okta.url,
        OKTA_AUDIENCE=OKTA_AUDIENCE,
        SSL_CERT_FILE=str(okta.cert),  # the issuer's self-signed certificate is the trust store
        OKTA_JWKS_MIN_REFRESH_S=str(JWKS_MIN_REFRESH_S),
        OKTA_GROUP_TEAMS=json.dumps(OKTA_GROUP_TEAMS),
        ONBOARDING_MAX_BUDGET="25",
        ONBOARDING_BUDGET_DURATION="30d",
        ONBOARDING_RPM_LIMIT="100",
        ONBOARDING_MODELS="fake-gpt,fake-embedding",
        GATEWAY_PRIORITY_REDIS_URL=PRIORITY_REDIS_URL,
        GATEWAY_PRIORITY_KEY_PREFIX=PRIORITY_KEY_PREFIX,
        GATEWAY_PRIORITY_LIMITS=json.dumps(PRIORITY_LIMITS),
    )
    if os.environ.get("TEST_DATABASE_URL"):
        env["DATABASE_URL"] = os.environ["TEST_DATABASE_URL"]
    try:
        process = launch_stack(data_dir, ports, env)
    except StackStartError as exc:  # one clear failure, not one error per test; nothing left running
        pytest.exit(str(exc), returncode=1)
    gateway = f"http://127.0.0.1:{ports['GATEWAY_PORT']}"
    log_path = data_dir / "stack.out"
    family = psutil.Process(process.pid).children(recursive=True)
    yield LocalStack(
        gateway,
        f"http://127.0.0.1:{ports['LITELLM_PORT']}",
        f"http://127.0.0.1:{ports['FAKE_PROVIDER_PORT']}",
        MASTER_KEY,
        f"https://127.0.0.1:{ports['GATEWAY_TLS_PORT']}",
        data_dir / "tls" / "cert.pem",
        f"http://127.0.0.1:{ports['DYNAMODB_PORT']}",
        data_dir / "logs",
    )

    process.send_signal(signal.SIGINT)
    assert process.wait(90) == 0, log_path.read_text()[-4000:]
    left = [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not left, f"processes left behind after Ctrl-C: {[p.cmdline()[:3] for p in left]}"
    busy = [port for port in ports.values() if port_in_use(port)]
    assert not busy, f"ports still listening after Ctrl-C: {busy}"
