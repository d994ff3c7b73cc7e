"""Our relay alone: the function path as Lambda runs it, and the local API Gateway stand-in's share.

LiteLLM's own time (tens of ms, and noisy on a shared machine) hides a millisecond of ours, so
here the gateway's upstream is the fake provider itself (it answers chat completions as LiteLLM
does). Three more processes, with the stack gateway's environment:

* each streaming function under uvicorn alone, started with run.sh's own command line (as the
  Lambda Web Adapter starts it): what AWS runs (the function path);
* ``local.gateway``, the stand-in that routes as API Gateway does, in front of the same apps;
* two floors (``bench.floor``): a byte splice, and a bare ASGI relay on the functions' server and
  upstream client.

Interleaved round by round against the fake provider direct: "function" minus "fake direct" is
what the function path adds, "stand-in" minus "function" is the stand-in's share, which AWS
replaces with API Gateway, and "function" minus "floor: bare relay" is our app's own share (the
rest is the hop, the server and the client, which any relay in the function's place pays).

``--relay-baseline REV`` adds both functions as they were at git revision REV (their layer, their
run.sh), started the same way beside today's and measured in the same rounds: a change's before and
after on one machine in one run, where two runs minutes apart differ by more than the change.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from urllib.parse import urlsplit

import psutil

from bench import latency
from local.processes import Child, free_port, spawn, wait_http
from local.template import REPO_ROOT

__all__ = ["ROUNDS_PER_ROUND", "RelayProcesses", "measure", "run_sh_argv", "start", "table"]

# A p99 is about the (rounds / 100)th largest sample: at 150 rounds the second largest. Two copies
# of the same code measured side by side still differed by several ms in p99 at 1,200 rounds on the
# loaded machine, and a bootstrap of those samples narrows the p99's 90% range 2-7x from 300 to
# 3,000 rounds. With the fake provider as upstream a round costs a few ms, so this section takes
# 10x the bench's rounds (3,000 in a full run, ~1 min idle): enough for its p99 to mean something.
ROUNDS_PER_ROUND = 10


@dataclass
class RelayProcesses:
    stand_in: str
    openai: str
    bedrock: str
    children: list[Child]
    baseline: dict[str, str] = field(default_factory=dict)  # "OpenAI"/"Converse" -> URL of REV's function
    scratch: tempfile.TemporaryDirectory[str] | None = None
    floors: dict[str, str] = field(default_factory=dict)  # name -> URL (bench.floor)

    def stop(self) -> None:
        for child in self.children:
            child.stop()
        if self.scratch is not None:
            self.scratch.cleanup()


def run_sh_argv(function: str, port: int, root: Path = REPO_ROOT) -> list[str]:
    """The command ``functions/<function>/run.sh`` execs (its uvicorn options, as deployed), on
    ``port``, with this interpreter and the function's code on sys.path."""
    script = (root / "functions" / function / "run.sh").read_text()
    (line,) = [line for line in script.splitlines() if line.startswith("exec python -m uvicorn ")]
    words = shlex.split(line)[2:]  # python -m uvicorn ...
    at = words.index("--port")
    del words[at : at + 2]  # "$PORT"
    return [sys.executable, *words[:-1], "--port", str(port), "--app-dir", f"functions/{function}", words[-1]]


def _checkout(revision: str, into: Path) -> None:
    """The layer and the functions as they were at ``revision`` (git archive: no work tree touched)."""
    archive = subprocess.run(  # noqa: S603 (our own command)
        ["git", "-C", str(REPO_ROOT), "archive", revision, "layers", "functions"],  # noqa: S607
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")


def start(gateway: psutil.Process, fake_url: str, logs_dir: str, baseline: str | None = None) -> RelayProcesses:
    env = {**gateway.environ(), "GATEWAY_LITELLM_BASE_URL": fake_url}
    names = ["stand-in", "openai", "bedrock", "splice", "bare"]
    names += ["before-openai", "before-bedrock"] if baseline else []
    ports = {name: free_port() for name in names}
    scratch = tempfile.TemporaryDirectory(prefix="relay-baseline-") if baseline else None
    # name -> (argv, cwd, env): REV's functions run from the scratch tree, its layer first on sys.path.
    commands = {
        "stand-in": ([sys.executable, "-m", "local.gateway", "--port", str(ports["stand-in"])], REPO_ROOT, env),
        "openai": (run_sh_argv("openai_chat", ports["openai"]), REPO_ROOT, env),
        "bedrock": (run_sh_argv("bedrock_runtime", ports["bedrock"]), REPO_ROOT, env),
        "splice": (
            [sys.executable, "-m", "bench.floor", "splice", str(urlsplit(fake_url).port), str(ports["splice"])],
            REPO_ROOT,
            env,
        ),
        # run.sh's server and options, serving the bare relay instead of a function's app
        "bare": ([*run_sh_argv("openai_chat", ports["bare"])[:-1], "bench.floor:app"], REPO_ROOT, env),
    }
    if baseline and scratch is not None:
        root = Path(scratch.name)
        _checkout(baseline, root)
        before_env = {**env, "PYTHONPATH": os.pathsep.join([str(root / "layers" / "core"), env.get("PYTHONPATH", "")])}
        for name, function in (("before-openai", "openai_chat"), ("before-bedrock", "bedrock_runtime")):
            commands[name] = (run_sh_argv(function, ports[name], root), root, before_env)
    children: list[Child] = []
    try:
        for name, (argv, cwd, child_env) in commands.items():
            children.append(spawn(f"relay-{name}", argv, child_env, REPO_ROOT / logs_dir, cwd=cwd))
        for child, (name, port) in zip(children, ports.items(), strict=True):
            # The splice's /health is the upstream's: LiteLLM's asks for a key, so any answer will do.
            if not wait_http(f"http://127.0.0.1:{port}/health", 120, child.alive, any_status=name == "splice"):
                raise RuntimeError(f"{child.name} did not start:\n{child.relevant_lines()}")
    except BaseException:
        for child in children:
            child.stop()
        if scratch is not None:
            scratch.cleanup()
        raise
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    before = {"OpenAI": url["before-openai"], "Converse": url["before-bedrock"]} if baseline else {}
    floors = {"floor: byte splice": url["splice"], "floor: bare relay": url["bare"]}
    return RelayProcesses(url["stand-in"], url["openai"], url["bedrock"], children, before, scratch, floors)


def targets(relay: RelayProcesses, fake_url: str, key: str, *, stream: bool = False) -> list[latency.Target]:
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    chat = {**latency.CHAT, "stream": True} if stream else latency.CHAT
    converse = "/bedrock/model/fake-gpt/converse" + ("-stream" if stream else "")
    suffix = "Stream" if stream else ""
    found = [
        latency.Target("fake direct", f"{fake_url}/v1/chat/completions", chat, {"Content-Type": "application/json"}),
        *(latency.Target(name, f"{url}/v1/chat/completions", chat, auth) for name, url in relay.floors.items()),
        latency.Target("function OpenAI", f"{relay.openai}/v1/chat/completions", chat, auth),
        latency.Target(
            "function OpenAI, not sampled", f"{relay.openai}/v1/chat/completions", chat, {**auth, **latency.NOT_SAMPLED}
        ),
        latency.Target("stand-in OpenAI", f"{relay.stand_in}/v1/chat/completions", chat, auth),
        latency.Target(f"function Converse{suffix}", relay.bedrock + converse, latency.CONVERSE, auth),
        latency.Target(f"stand-in Converse{suffix}", relay.stand_in + converse, latency.CONVERSE, auth),
    ]
    if relay.baseline:
        found += [
            latency.Target("before OpenAI", f"{relay.baseline['OpenAI']}/v1/chat/completions", chat, auth),
            latency.Target(f"before Converse{suffix}", relay.baseline["Converse"] + converse, latency.CONVERSE, auth),
        ]
    return found


def in_front_of_litellm(relay: RelayProcesses, litellm_url: str, key: str) -> list[latency.Target]:
    """The function alone (as Lambda runs it, no stand-in) on the OpenAI route and both floors,
    started with LiteLLM as their upstream (``start(..., litellm_url, ...)``), for section 1d's
    holds: what a relay in that seat holds a request on this machine whatever its code (the
    splice), with a server and client (the bare relay), and with our app (the function)."""
    return [t for t in targets(relay, litellm_url, key) if t.name.startswith(("function OpenAI", "floor"))]


async def measure(relay: RelayProcesses, fake_url: str, key: str, rounds: int) -> dict[str, dict[str, list[float]]]:
    # The fake provider stands in for LiteLLM here, so it answers with LiteLLM's ~25 headers, which
    # every relay carries back. Its streams start at once (FAKE_TTFT_MS would wait): the relay's
    # own cost is the measure.
    as_litellm = {"x-fake-litellm-headers": "1"}
    whole = await latency.serial(targets(relay, fake_url, key), rounds, headers=as_litellm)
    no_wait = {**as_litellm, "x-fake-ttft-ms": "0"}
    first = await latency.serial(targets(relay, fake_url, key, stream=True), rounds, latency.first_byte, no_wait)
    return {"whole answer": whole, "first streamed byte": first}


def table(runs: dict[str, dict[str, list[float]]], rounds: int, baseline: str | None = None) -> list[str]:
    """Section 1c; with a baseline, REV's functions ("before") too, and today's minus them."""
    lines = [
        f"### 1c. Our relay alone: function path vs the local API Gateway stand-in (upstream = fake provider,"
        f" serial, {rounds} rounds, interleaved{f'; before = functions at {baseline}' if baseline else ''})",
        "",
        "| measure | path | p50 ms | p99 ms | over fake direct (p50 / p99) | our app's share (p50)"
        " | stand-in share (p50) |" + (" now minus before (p50 / p99) |" if baseline else ""),
        "|---|---|---|---|---|---|---|" + ("---|" if baseline else ""),
    ]
    for measure_name, run in runs.items():
        stats = {name: latency.summary(values) for name, values in run.items()}
        base = stats["fake direct"]
        bare = stats.get("floor: bare relay")
        for name, s in stats.items():
            note, own, share, change = "", "", "", ""
            if name.startswith(("function", "before", "floor")):
                note = f"{s['p50'] - base['p50']:+.2f} / {s['p99'] - base['p99']:+.2f}"
            if name.startswith(("function", "before")) and bare is not None:
                own = f"{s['p50'] - bare['p50']:+.2f}"
            if name.startswith("stand-in"):
                function = stats[name.replace("stand-in", "function")]
                share = f"{s['p50'] - function['p50']:+.2f}"
            before = stats.get(name.replace("function", "before")) if name.startswith("function") else None
            if baseline and before is not None:
                change = f" {s['p50'] - before['p50']:+.2f} / {s['p99'] - before['p99']:+.2f} |"
            elif baseline:
                change = "  |"
            lines.append(
                f"| {measure_name} | {name} | {s['p50']:.2f} | {s['p99']:.2f} | {note} | {own} | {share} |{change}"
            )
    return [*lines, ""]
