"""`make dev`: the whole gateway on localhost, in the foreground, until Ctrl-C.

Starts the fake provider, DynamoDB Local, Postgres, LiteLLM and the gateway, waits until every
one answers, prints where everything is, and on SIGINT/SIGTERM stops all of it.

Configuration (environment):
  GATEWAY_PORT (8080) LITELLM_PORT (4000) FAKE_PROVIDER_PORT (8090) DYNAMODB_PORT (5050); 0 = any free
  LITELLM_MASTER_KEY (sk-local-master)   DATABASE_URL (unset: embedded Postgres in the data dir)
  AWS_ENDPOINT_URL_DYNAMODB (unset: DynamoDB Local on 127.0.0.1, tables in <data dir>/dynamodb)
  LOCAL_DYNAMODB (local; moto = moto's server, in memory: history starts empty on each run)
  LOCAL_DATA_DIR (.local)   LITELLM_VENV (.venv-litellm)
  LITELLM_OFFLINE_DB (../shared/litellm-offline-db when present: Prisma engines cannot be fetched)
  GATEWAY_TLS_PORT (unset: no HTTPS listener; 0 = any free port): the gateway over HTTPS with a
  self-signed certificate in <data dir>/tls/cert.pem, for boto3's AWS_BEARER_TOKEN_BEDROCK; it
  speaks HTTP/2 (the AWS SDK for JavaScript's default) and HTTP/1.1
  The functions get the environment template.yaml gives them (parameter defaults; local stand-ins
  for the ALB, table and secret); GATEWAY_*, OKTA_*, ONBOARDING_* set in this shell win
  LOCAL_STARTUP_TIMEOUT_S (240)
  LOCAL_OKTA (unset; 1 = a local Okta issuer, local/okta.py, that the gateway's onboarding trusts)

Chat history lives in the table ``gateway-history`` (created from template.yaml's HistoryTable),
kept across restarts in <data dir>/dynamodb (DynamoDB Local, local/dynamodb_local.py: moto, in
memory, where Java, javac or npm is missing, and the banner says why);
managed prompts come from the fake provider's prompts file (bedrock-agent GetPrompt).
Each start writes its timeline (phases, CPU seconds per part) to <data dir>/logs/start-timeline.json;
``python -m local.timing`` measures starts with it.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

from local import dynamodb_local, preflight
from local.dynamodb import create_tables
from local.litellm_config import write_config
from local.litellm_database import litellm_database_environment
from local.okta import okta_dir
from local.postgres import start_postgres
from local.processes import Child, free_port, port_in_use, rotate_logs, spawn, wait_http
from local.template import REPO_ROOT, functions_environment, litellm_task_setting, load_routes, load_template
from local.timeline import Timeline, family_cpu_s
from local.tls import ensure_certificate
from local.xray_collector import free_udp_port

__all__ = ["main"]


HISTORY_TABLE = "gateway-history"
# Local AWS endpoints accept any credentials; never let a developer's real ones sign for them.
AWS_PLACEHOLDERS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


class Shutdown(Exception):
    """Raised by the signal handler: unwinds whatever is running into the cleanup."""


def say(message: str) -> None:
    print(f"[local] {message}", flush=True)


@dataclass
class Ports:
    gateway: int
    litellm: int
    fake: int
    dynamodb: int

    @classmethod
    def resolve(cls) -> Ports:
        chosen = {}
        for name, variable, default in (
            ("gateway", "GATEWAY_PORT", 8080),
            ("litellm", "LITELLM_PORT", 4000),
            ("fake", "FAKE_PROVIDER_PORT", 8090),
            ("dynamodb", "DYNAMODB_PORT", 5050),
        ):
            port = int(os.environ.get(variable, default))
            if port == 0:
                port = free_port()
            elif port_in_use(port):
                raise SystemExit(f"[local] port {port} is already in use: stop what holds it or set {variable}")
            chosen[name] = port
        return cls(**chosen)


@dataclass
class Stack:
    data_dir: Path
    ports: Ports
    master_key: str
    children: list[Child] = field(default_factory=list)
    stop_postgres: Callable[[], None] | None = None
    database_note: str = ""
    dynamodb_url: str = ""
    dynamodb_note: str = ""
    tls_port: int | None = None
    xray_port: int = 0
    okta_issuer: str = ""
    offline_tool: Path | None = None  # litellm-offline-db, where Prisma's engines cannot be fetched

    @property
    def logs(self) -> Path:
        return self.data_dir / "logs"

    def start(self, name: str, argv: list[str], env: dict[str, str], cwd: Path = REPO_ROOT) -> Child:
        child = spawn(name, argv, env, self.logs, cwd=cwd)
        self.children.append(child)
        return child

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()
        if self.stop_postgres is not None:
            self.stop_postgres()

    def wait(
        self, child: Child, url: str, timeout: float, what: str, cafile: Path | None = None, any_status: bool = False
    ) -> None:
        if not wait_http(url, timeout, child.alive, cafile, any_status):
            state = "exited" if not child.alive() else f"did not answer within {timeout:.0f} s"
            raise RuntimeError(f"{what} {state}; from its log ({child.log_path}):\n{child.relevant_lines()}")


def _litellm_environment(stack: Stack, venv: Path, database_url: str) -> dict[str, str]:
    """The environment LiteLLM needs for Postgres, via the offline Prisma tool when it is used."""
    env = {
        "DATABASE_URL": database_url,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        # Every client reaches LiteLLM through the API Gateway stand-in on loopback (the VPC in AWS).
        "LITELLM_TRUSTED_PROXY_RANGES": "127.0.0.1/32",
    }
    if stack.offline_tool is None:
        return env  # Prisma downloads its engines itself where the network allows it (preflight)
    embedded = stack.stop_postgres is not None
    return {
        **env,
        **litellm_database_environment(venv, database_url, stack.data_dir, stack.offline_tool, embedded, say),
    }


def _data_dir_prefix(stack: Stack) -> str:
    default = (REPO_ROOT / ".local").resolve()
    return "" if stack.data_dir == default else f"LOCAL_DATA_DIR={stack.data_dir} "


def redis_notes() -> list[str]:
    """The banner's Redis lines: which parts use one (none unless this shell names it), never
    a password."""
    host = os.environ.get("REDIS_HOST")
    litellm = (
        f"LiteLLM's rate limits on {host}:{os.environ.get('REDIS_PORT', '6379')} (REDIS_HOST)"
        if host
        else "LiteLLM: not used (set REDIS_HOST to share rate limits across LiteLLM instances, as in AWS)"
    )
    url = urlsplit(os.environ.get("GATEWAY_PRIORITY_REDIS_URL", ""))
    queues = (
        f"priority queues on {url.hostname}:{url.port or 6379} (GATEWAY_PRIORITY_REDIS_URL)"
        if url.hostname
        else "priority queues: not used (set GATEWAY_PRIORITY_REDIS_URL to queue by priority, as in AWS)"
    )
    return [litellm, queues]


def _litellm_venv() -> Path:
    return Path(os.environ.get("LITELLM_VENV", REPO_ROOT / ".venv-litellm"))


LITELLM_WORKER_HOOKS = REPO_ROOT / "ecs_litellm" / "worker_hooks"


def _litellm_worker_hooks_environment(env: dict[str, str]) -> dict[str, str]:
    """The workers' startup hook as the task runs it (template.yaml), importable from the checkout
    as it is from the image's site-packages."""
    path = os.pathsep.join(p for p in (env.get("PYTHONPATH", ""), str(LITELLM_WORKER_HOOKS)) if p)
    return {
        "LITELLM_WORKER_STARTUP_HOOKS": litellm_task_setting("LITELLM_WORKER_STARTUP_HOOKS"),
        "PYTHONPATH": path,
    }


def _banner(stack: Stack, elapsed: float) -> str:
    base = f"http://127.0.0.1:{stack.ports.gateway}"
    has_bedrock = any(r.path.startswith("/bedrock/") for r in load_routes())
    lines = [
        f"ready in {elapsed:.1f} s",
        "",
        f"  gateway        {base}   (GET /health)",
        *(
            [
                f"  HTTPS gateway  https://127.0.0.1:{stack.tls_port}   (CA: {stack.data_dir / 'tls' / 'cert.pem'})",
                f"                 for boto3: export AWS_CA_BUNDLE={stack.data_dir / 'tls' / 'cert.pem'}",
            ]
            if stack.tls_port
            else []
        ),
        f"  OpenAI SDK     base_url={base}/v1",
        *([f"  boto3 Bedrock  endpoint_url={base}/bedrock"] if has_bedrock else []),
        f"  LiteLLM        http://127.0.0.1:{stack.ports.litellm}   (admin UI: {base}/ui)",
        f"  fake provider  http://127.0.0.1:{stack.ports.fake}   (models: fake-gpt, fake-embedding)",
        f"  DynamoDB       {stack.dynamodb_url}   ({stack.dynamodb_note})",
        f"  Postgres       {stack.database_note}",
        *(
            [
                f"  Okta (local)   {stack.okta_issuer}",
                f"  Okta token     {_data_dir_prefix(stack)}{sys.executable} -m local.okta token alice",
            ]
            if stack.okta_issuer
            else []
        ),
        *(f"  {'Redis' if n == 0 else '':<15}{note}" for n, note in enumerate(redis_notes())),
        f"  master key     {stack.master_key}",
        f"  logs           {stack.logs}/",
        f"  metrics        EMF lines in {stack.logs / 'gateway.log'} (CloudWatch namespace GenAIGateway)",
        f"  traces         X-Ray segments in {stack.logs / 'xray-segments.jsonl'} (udp :{stack.xray_port})",
        "",
        "  from openai import OpenAI",
        f'  client = OpenAI(base_url="{base}/v1", api_key="{stack.master_key}")',
        '  print(client.chat.completions.create(model="fake-gpt", messages=[{"role": "user", "content": "hi"}]))',
    ]
    if has_bedrock:
        lines += [
            "",
            "  import boto3; from botocore import UNSIGNED; from botocore.config import Config",
            f'  brt = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url="{base}/bedrock",',
            "                     config=Config(signature_version=UNSIGNED))",
            '  brt.meta.events.register("request-created.*", lambda request, **_: request.headers.add_header(',
            f'      "Authorization", "Bearer {stack.master_key}"))',
            '  print(brt.converse(modelId="fake-gpt", messages=[{"role": "user", "content": [{"text": "hi"}]}]))',
        ]
    lines += ["", "Ctrl-C stops everything."]
    return "\n".join(f"[local] {line}" if line else "[local]" for line in lines)


def _start_local_okta(stack: Stack, env: dict[str, str]) -> dict[str, str]:
    """The local Okta issuer (LOCAL_OKTA=1); returns what the gateway needs to trust it."""
    folder = okta_dir(stack.data_dir)
    (folder / "issuer.json").unlink(missing_ok=True)  # the previous run's port
    say("Okta issuer (local, HTTPS)")
    child = stack.start(
        "okta", [sys.executable, "-m", "local.okta", "serve"], {**env, "LOCAL_DATA_DIR": str(stack.data_dir)}
    )
    deadline = time.monotonic() + 30
    while not (folder / "issuer.json").exists():
        if not child.alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the local Okta issuer did not start; from its log:\n{child.relevant_lines()}")
        time.sleep(0.1)
    state = json.loads((folder / "issuer.json").read_text())
    cert = folder / "tls" / "cert.pem"
    stack.wait(child, f"{state['issuer']}/.well-known/openid-configuration", 30, "the local Okta issuer", cafile=cert)
    stack.okta_issuer = state["issuer"]
    # The issuer's self-signed certificate is the gateway's trust store (local only: nothing else
    # the gateway calls here speaks HTTPS).
    return {"OKTA_ISSUER": state["issuer"], "OKTA_AUDIENCE": state["audience"], "SSL_CERT_FILE": str(cert)}


def _start_dynamodb(stack: Stack, env: dict[str, str]) -> Child | None:
    """The history's DynamoDB: the shell's endpoint, else DynamoDB Local with its tables in the data
    folder (kept across restarts, 127.0.0.1 only), else moto in memory; None when not ours."""
    stack.dynamodb_url = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB", "")
    if stack.dynamodb_url:
        stack.dynamodb_note = "AWS_ENDPOINT_URL_DYNAMODB"
        return None
    port = stack.ports.dynamodb
    stack.dynamodb_url = f"http://127.0.0.1:{port}"
    memory = "moto, in memory: chat history starts empty on each run"
    if os.environ.get("LOCAL_DYNAMODB", "local") == "moto":
        stack.dynamodb_note = f"{memory} (LOCAL_DYNAMODB=moto)"
    else:
        folder = stack.data_dir / "dynamodb"
        try:
            argv = dynamodb_local.command(port, folder)
        except dynamodb_local.Unavailable as why:
            stack.dynamodb_note = f"{memory}; DynamoDB Local cannot run here: {why}"
        else:
            say(f"DynamoDB Local on 127.0.0.1:{port}, tables in {folder}")
            folder.mkdir(parents=True, exist_ok=True)
            stack.dynamodb_note = (
                f"DynamoDB Local, 127.0.0.1 only; chat history kept in {folder}/ across restarts:"
                " stop the stack and delete that folder to wipe it"
            )
            return stack.start("dynamodb", argv, env, cwd=folder)
    say(f"DynamoDB (moto, in memory) on 127.0.0.1:{port}")
    return stack.start("moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], env)


def _record_cpu(stack: Stack, timeline: Timeline) -> None:
    for child in stack.children:
        for part, seconds in family_cpu_s(child.process.pid, child.name).items():
            timeline.add_cpu(part, seconds)
    postmaster = stack.data_dir / "pgdata" / "postmaster.pid"
    if stack.stop_postgres is not None and postmaster.is_file():
        server = family_cpu_s(int(postmaster.read_text().split()[0]), "Postgres server")
        timeline.add_cpu("Postgres server", sum(server.values()))


def _on_signal(signum: int, _: FrameType | None) -> None:
    raise Shutdown(signal.Signals(signum).name)


def run(stack: Stack) -> int:
    timeline = Timeline()
    started = timeline.origin
    timeout = float(os.environ.get("LOCAL_STARTUP_TIMEOUT_S", "240"))
    py = sys.executable
    base_env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    say(f"fake provider on 127.0.0.1:{stack.ports.fake}")
    fake = stack.start("fake-provider", [py, "-m", "fake_provider", "--port", str(stack.ports.fake)], base_env)
    fake_url = f"http://127.0.0.1:{stack.ports.fake}"

    okta_env = _start_local_okta(stack, base_env) if os.environ.get("LOCAL_OKTA") == "1" else {}

    dynamodb = _start_dynamodb(stack, base_env)
    timeline.mark("fake provider, Okta, DynamoDB started")

    say(
        "Postgres: "
        + ("DATABASE_URL" if os.environ.get("DATABASE_URL") else f"embedded, data in {stack.data_dir / 'pgdata'}")
    )
    database_url, stack.stop_postgres = start_postgres(stack.data_dir / "pgdata")
    timeline.mark("Postgres ready")
    waited = timeline.waited_cpu_s()
    timeline.add_cpu("Postgres start (pg_ctl)", waited)
    stack.database_note = "DATABASE_URL" if stack.stop_postgres is None else f"embedded ({stack.data_dir / 'pgdata'})"
    venv = _litellm_venv()
    litellm_env = {**base_env, **_litellm_environment(stack, venv, database_url)}
    timeline.mark("LiteLLM database prepared")
    timeline.add_cpu("LiteLLM database preparation", timeline.waited_cpu_s() - waited)
    litellm_env["LITELLM_MASTER_KEY"] = stack.master_key
    # The admin UI is served through the gateway (/ui): LiteLLM's redirects (after login) must
    # name the gateway, as PROXY_BASE_URL does in AWS, not LiteLLM's own address.
    litellm_env["PROXY_BASE_URL"] = f"http://127.0.0.1:{stack.ports.gateway}"
    # LiteLLM's idle keep-alive as deployed (template.yaml), longer than the gateway's own.
    litellm_env.setdefault("KEEPALIVE_TIMEOUT", litellm_task_setting("KEEPALIVE_TIMEOUT"))
    litellm_env.update(_litellm_worker_hooks_environment(litellm_env))
    config_path = stack.data_dir / "litellm-config.yaml"
    write_config(config_path, fake_url)

    say(f"LiteLLM on 127.0.0.1:{stack.ports.litellm} (takes ~20 s; log: {stack.logs / 'litellm.log'})")
    litellm_argv = [
        str(venv / "bin" / "litellm"),
        "--config",
        str(config_path),
        "--host",
        "127.0.0.1",
        "--port",
        str(stack.ports.litellm),
    ]
    litellm = stack.start("litellm", litellm_argv, litellm_env)
    litellm_url = f"http://127.0.0.1:{stack.ports.litellm}"

    stack.xray_port = free_udp_port()
    say(f"X-Ray collector on udp 127.0.0.1:{stack.xray_port}")
    xray_argv = [py, "-m", "local.xray_collector", "--port", str(stack.xray_port)]
    stack.start("xray-collector", [*xray_argv, "--out", str(stack.logs / "xray-segments.jsonl")], base_env)

    health = {
        "litellm": f"{litellm_url}/health/liveliness",
        "fake_provider": f"{fake_url}/health",
        "dynamodb": stack.dynamodb_url,  # DynamoDB answers a bare GET with 400: it is up
    }
    # The functions' environment as template.yaml gives it (parameter defaults, local stand-ins for
    # the AWS resources), then whatever this shell sets (GATEWAY_*, OKTA_*... win), then the wiring.
    local_resources = {
        "GATEWAY_LITELLM_BASE_URL": litellm_url,
        "GATEWAY_HISTORY_TABLE": HISTORY_TABLE,
        "GATEWAY_MASTER_KEY_SECRET_ARN": "",  # locally the key itself: GATEWAY_LITELLM_MASTER_KEY
    }
    # ElastiCache of the priority queues: none locally unless this shell names a Redis (the tests do).
    optional_resources = {"GATEWAY_PRIORITY_REDIS_URL": "", "GATEWAY_PRIORITY_REDIS_AUTH_SECRET_ARN": ""}
    gateway_env = {
        **functions_environment(load_template(), {**local_resources, **optional_resources}),
        **base_env,
        **AWS_PLACEHOLDERS,
        **local_resources,
        "GATEWAY_LITELLM_MASTER_KEY": stack.master_key,
        "AWS_ENDPOINT_URL_DYNAMODB": stack.dynamodb_url,
        "AWS_ENDPOINT_URL_BEDROCK_AGENT": fake_url,
        "LOCAL_HEALTH_URLS": json.dumps(health),
        "POWERTOOLS_SERVICE_NAME": "gateway-local",
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{stack.xray_port}",  # tracing on, to the collector
    }
    gateway_env.update(okta_env)
    for variable in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        gateway_env.pop(variable, None)
    say(f"gateway on 127.0.0.1:{stack.ports.gateway}")
    gateway = stack.start("gateway", [py, "-m", "local.gateway", "--port", str(stack.ports.gateway)], gateway_env)

    timeline.mark("LiteLLM and gateway started")

    stack.wait(fake, f"{fake_url}/health", 30, "the fake provider")
    timeline.mark("fake provider ready")
    if dynamodb is not None:
        stack.wait(dynamodb, stack.dynamodb_url, 60, "DynamoDB", any_status=True)
        timeline.mark("DynamoDB ready")
    create_tables(stack.dynamodb_url, {"HistoryTable": HISTORY_TABLE})
    timeline.mark("history table in place")
    stack.wait(litellm, f"{litellm_url}/health/liveliness", timeout, "LiteLLM")
    timeline.mark("LiteLLM ready")
    say("LiteLLM is up")
    stack.wait(gateway, f"http://127.0.0.1:{stack.ports.gateway}/health", 60, "the gateway")
    timeline.mark("gateway ready")
    if stack.tls_port is not None:
        cert, key = ensure_certificate(stack.data_dir / "tls")
        tls_argv = [
            py,
            "-m",
            "local.gateway",
            "--port",
            str(stack.tls_port),
            "--ssl-certfile",
            str(cert),
            "--ssl-keyfile",
            str(key),
        ]
        tls = stack.start("gateway-tls", tls_argv, gateway_env)
        stack.wait(tls, f"https://127.0.0.1:{stack.tls_port}/health", 60, "the HTTPS gateway", cafile=cert)
    timeline.mark("ready")
    _record_cpu(stack, timeline)
    timeline.write(stack.logs / "start-timeline.json")
    print(_banner(stack, time.monotonic() - started), flush=True)

    while True:
        for child in stack.children:
            if not child.alive():
                raise RuntimeError(
                    f"{child.name} exited ({child.process.returncode}); from its log ({child.log_path}):\n"
                    + child.relevant_lines()
                )
        time.sleep(0.5)


def main() -> int:
    try:  # before anything starts: a machine that cannot run the stack hears why at once
        offline_tool = preflight.check()
    except preflight.PreflightError as exc:
        say(f"cannot start: {exc}")
        return 1
    if not (_litellm_venv() / "bin" / "litellm").exists():
        say(f"cannot start: no LiteLLM in {_litellm_venv()}; run `make install` (or set LITELLM_VENV).")
        return 1
    data_dir = Path(os.environ.get("LOCAL_DATA_DIR", REPO_ROOT / ".local")).resolve()
    rotate_logs(data_dir / "logs")
    stack = Stack(data_dir, Ports.resolve(), os.environ.get("LITELLM_MASTER_KEY", "sk-local-master"))
    stack.offline_tool = offline_tool
    if os.environ.get("GATEWAY_TLS_PORT"):
        stack.tls_port = int(os.environ["GATEWAY_TLS_PORT"]) or free_port()
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    code = 0
    try:
        run(stack)
    except Shutdown as reason:
        say(f"{reason}: stopping")
    except RuntimeError as exc:
        say(f"ERROR: {exc}")
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
        say("stopped")
    return code
