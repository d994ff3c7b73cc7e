"""Run `sam build`'s output the way Lambda runs it, without Docker (the Lambda-shaped check).

Each function runs as root in a private mount namespace (``unshare --mount``; the host sees
nothing) laid out as Lambda's execution environment:

* ``/var/lang``    the python3.13 interpreter (pyenv's, as Lambda's own runtime prefix is /var/lang)
* ``/opt``         the built CoreLayer and BytecodeLayer, merged (their packages in /opt/python)
* ``/var/task``    the built function
* ``/var/runtime`` what Lambda's managed runtime brings: its runtime interface client
  (``awslambdaric`` from PyPI), boto3, and a bootstrap that sets ``sys.path`` as Lambda
  documents it for Python handlers (bootstrap below). None of it is in our layer.

with Lambda's documented environment (``LAMBDA_TASK_ROOT``, ``LAMBDA_RUNTIME_DIR``,
``PYTHONPATH=/var/runtime``, ``AWS_LAMBDA_FUNCTION_*``, ``_HANDLER``, ``PATH``...) plus the
template's own Environment for that function, and nothing of the dev venvs.

* Buffered functions (mangum) run behind AWS's Runtime Interface Emulator, shipped in
  aws-sam-cli (``samcli/local/rapid/aws-lambda-rie-*``): ``invoke()`` posts an event to it.
* Streaming functions are started as the Lambda Web Adapter starts them: its exec wrapper execs
  ``$LAMBDA_TASK_ROOT/$_HANDLER`` (run.sh) with that environment, then the adapter waits for
  ``AWS_LWA_READINESS_CHECK_PATH`` on ``PORT``; requests then go to that port over HTTP.

What this cannot see: the adapter's own binary (a layer from AWS's account, not downloadable
here) and arm64 wheels (this machine runs x86_64, so the check builds LambdaArchitecture=x86_64).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.processes import Child, free_port, port_in_use, spawn, wait_http
from local.template import REPO_ROOT, load_template

__all__ = [
    "BuiltFunction",
    "LambdaShape",
    "build",
    "built_functions",
    "lambda_runtime",
]

ARCHITECTURE = "x86_64"  # what this machine executes; deploys build arm64 (the template default)
PYTHON = "python3.13"
RUNTIME_PACKAGES = ("awslambdaric==4.2.2",)  # boto3 is added at the version of requirements/app.lock
_BOOTSTRAP = '''"""Stand-in for Lambda's /var/runtime/bootstrap.py: sys.path as Lambda documents it for a
Python 3.13 handler (/var/task, then the layers' /opt/python, then the runtime), then the
runtime interface client, as AWS's base images run it."""
import os, sys
sys.path[:0] = [os.environ["LAMBDA_TASK_ROOT"], "/opt/python/lib/python3.13/site-packages", "/opt/python"]
from awslambdaric.__main__ import main
main([sys.argv[0], os.environ["_HANDLER"]])
'''


def global_layers() -> list[str]:
    """The layers every function gets (template.yaml's Globals), in the template's order."""
    return [layer["Ref"] for layer in load_template()["Globals"]["Function"]["Layers"]]


def python313() -> Path:
    found = sorted(Path.home().glob(".pyenv/versions/3.13*/bin/python3.13"))
    if not found:
        raise RuntimeError("no python3.13 (pyenv) on this machine: the Lambda-shaped check needs it")
    return found[-1]


def _sam() -> Path:
    sam = REPO_ROOT / ".venv-sam" / "bin" / "sam"
    if not sam.exists():
        raise RuntimeError(f"{sam} is missing: run `make .venv-sam/.installed`")
    return sam


def _inputs_digest(architecture: str) -> str:
    """What a build is made of: the template, the functions, the layer (bytecode aside)."""
    digest = hashlib.sha256(architecture.encode())
    files = [REPO_ROOT / "template.yaml"]
    for folder in ("functions", "layers"):
        files += [p for p in (REPO_ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    for path in sorted(files):
        digest.update(str(path.relative_to(REPO_ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def build(architecture: str = ARCHITECTURE) -> Path:
    """`sam build` with LambdaArchitecture=``architecture``, niced (CPU-heavy), once per content
    of its inputs: a build of the same template, functions and layer is reused as it is."""
    target = REPO_ROOT / ".aws-sam" / f"build-{architecture}"
    stamp = target / ".inputs-sha256"
    digest = _inputs_digest(architecture)
    if stamp.exists() and stamp.read_text() == digest:
        return target
    python_bin = python313().parent
    env = {**os.environ, "PATH": f"{python_bin}:{os.environ['PATH']}", "SAM_CLI_TELEMETRY": "0"}
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    argv = ["nice", str(_sam()), "build", "--template", str(REPO_ROOT / "template.yaml"), "--build-dir", str(target)]
    argv += ["--cached", "--cache-dir", str(REPO_ROOT / ".aws-sam" / f"cache-{architecture}")]
    argv += ["--parameter-overrides", f"LambdaArchitecture={architecture}"]
    result = subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise RuntimeError(f"sam build failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    stamp.write_text(digest)
    return target


def _boto3_pin() -> str:
    for line in (REPO_ROOT / "requirements" / "app.lock").read_text().splitlines():
        if line.startswith("boto3=="):
            return line.strip()
    raise RuntimeError("boto3 is not pinned in requirements/app.lock")


def lambda_runtime() -> Path:
    """/var/runtime: the runtime interface client, boto3 and the bootstrap, installed once per pin set."""
    pins = [*RUNTIME_PACKAGES, _boto3_pin()]
    runtime = REPO_ROOT / ".aws-sam" / f"lambda-runtime-{ARCHITECTURE}"
    stamp = runtime / ".pins"
    if not (stamp.exists() and stamp.read_text() == "\n".join(pins)):
        shutil.rmtree(runtime, ignore_errors=True)
        argv = [str(python313()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        argv += ["--only-binary=:all:", "--target", str(runtime), *pins]
        subprocess.run(argv, check=True, capture_output=True)  # noqa: S603
        stamp.write_text("\n".join(pins))
    (runtime / "bootstrap.py").write_text(_BOOTSTRAP)
    return runtime


@dataclass(frozen=True)
class BuiltFunction:
    logical_id: str
    handler: str  # run.sh (Lambda Web Adapter) or package.module.function
    code_dir: Path  # the built function: what Lambda unpacks into /var/task
    environment: dict[str, Any]  # the template's Variables (Globals + the function's), unresolved
    memory_mb: int
    timeout_s: int

    @property
    def streams(self) -> bool:
        return self.environment.get("AWS_LAMBDA_EXEC_WRAPPER") == "/opt/bootstrap"


def built_functions(build_dir: Path) -> list[BuiltFunction]:
    template = load_template()
    defaults = template["Globals"]["Function"]
    global_env = defaults.get("Environment", {}).get("Variables", {})
    found = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        env = {**global_env, **props.get("Environment", {}).get("Variables", {})}
        memory = int(props.get("MemorySize", defaults["MemorySize"]))
        timeout = int(props.get("Timeout", defaults["Timeout"]))
        found.append(BuiltFunction(logical_id, props["Handler"], build_dir / logical_id, env, memory, timeout))
    return found


def _resolve(name: str, value: Any, parameters: dict[str, Any], local: dict[str, str]) -> str | None:
    """A template environment value as this run gives it: literals as written, parameters at their
    defaults, and what names a deployed resource (load balancer, table, secret) from ``local``."""
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in parameters:
        return str(parameters[value["Ref"]].get("Default", ""))
    if name in local:
        return local[name] or None  # "" drops the variable (its stand-in is set instead)
    raise KeyError(f"{name}={value!r} names a deployed resource: give the Lambda-shaped check its local stand-in")


class LambdaShape:
    """Starts built functions in Lambda's layout; ``stop()`` ends every process it started."""

    def __init__(self, build_dir: Path, log_dir: Path, local: dict[str, str], extra_env: dict[str, str]) -> None:
        self.build_dir = build_dir
        self.log_dir = log_dir
        self.local = local  # stand-ins for values naming deployed resources
        self.extra_env = extra_env  # what the local stack needs on top (endpoints, credentials)
        self.runtime = lambda_runtime()
        self.children: list[Child] = []
        self.parameters = load_template()["Parameters"]

    def environment(self, function: BuiltFunction, port: int | None = None) -> dict[str, str]:
        """Lambda's documented variables for a python3.13 function, then the template's own."""
        name = f"gateway-{function.logical_id}"
        env = {
            "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
            "LD_LIBRARY_PATH": ":".join(
                ["/var/lang/lib", "/lib64", "/usr/lib64", "/var/runtime", "/var/runtime/lib"]
                + ["/var/task", "/var/task/lib", "/opt/lib"]
            ),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "PYTHONPATH": "/var/runtime",
            "LAMBDA_TASK_ROOT": "/var/task",
            "LAMBDA_RUNTIME_DIR": "/var/runtime",
            "_HANDLER": function.handler,
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]lambdashape",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            # Tracing: Active sets these; the daemon's UDP port has no listener here.
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        }
        for key, value in function.environment.items():
            resolved = _resolve(key, value, self.parameters, self.local)
            if resolved is not None:
                env[key] = resolved
        if port is not None:
            env["PORT"] = str(port)  # the template's 8000 would collide on a shared machine
        return {**env, **self.extra_env}

    def _namespaced(self, function: BuiltFunction, argv: list[str]) -> list[str]:
        mounts = {
            "/var/lang": python313().parent.parent,
            "/var/task": function.code_dir,
            "/var/runtime": self.runtime,
        }
        # Read-only, as in Lambda (so nothing, a __pycache__ included, is written back into the
        # build). A tmpfs over /var inside the namespace gives the mount points without touching
        # the host. /opt is the template's layers merged in their order, as Lambda extracts them:
        # an overlay with only lower layers, which is read-only by construction.
        layers = ":".join(f"'{self.build_dir / name}'" for name in reversed(global_layers()))  # the last on top
        script = "mount -t tmpfs tmpfs /var && mkdir -p /var/lang /var/task /var/runtime"
        script += f" && mount -t overlay overlay -o lowerdir={layers} /opt"
        for target, source in mounts.items():
            script += f" && mount --bind '{source}' {target} && mount -o remount,bind,ro {target}"
        script += ' && cd /var/task && exec "$@"'
        return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "lambda", *argv]

    def start_buffered(self, function: BuiltFunction) -> str:
        """The function behind the Runtime Interface Emulator; returns its invoke URL."""
        rie = next(
            (REPO_ROOT / ".venv-sam").glob(
                f"lib/python*/site-packages/samcli/local/rapid/aws-lambda-rie-{ARCHITECTURE}"
            )
        )
        port = free_port()
        argv = [str(rie), "--runtime-interface-emulator-address", f"127.0.0.1:{port}"]
        argv += [
            "--runtime-api-address",
            f"127.0.0.1:{free_port()}",
            "/var/lang/bin/python3.13",
            "/var/runtime/bootstrap.py",
        ]
        env = self.environment(function)
        env["AWS_LAMBDA_FUNCTION_TIMEOUT"] = str(function.timeout_s)  # the emulator's own setting
        child = spawn(function.logical_id, self._namespaced(function, argv), env, self.log_dir)
        self.children.append(child)
        deadline = time.monotonic() + 30
        while not port_in_use(port):  # the emulator listens before the function's first init
            if time.monotonic() > deadline or not child.alive():
                raise RuntimeError(f"{function.logical_id}: the emulator did not start:\n{child.log_tail()}")
            time.sleep(0.1)
        return f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations"

    def start_streaming(self, function: BuiltFunction, deadline_s: float = 60) -> str:
        """The handler script exec'd as the Lambda Web Adapter's wrapper does; returns its base URL
        once the adapter's readiness check (path and port from the environment) answers 200."""
        port = free_port()
        env = self.environment(function, port)
        child = spawn(
            function.logical_id, self._namespaced(function, ["/var/task/" + function.handler]), env, self.log_dir
        )
        self.children.append(child)
        base = f"http://127.0.0.1:{port}"
        if not wait_http(base + env["AWS_LWA_READINESS_CHECK_PATH"], deadline_s, child.alive):
            raise RuntimeError(f"{function.logical_id} never became ready:\n{child.log_tail()}")
        return base

    def stop(self) -> None:
        for child in self.children:
            child.stop()
        self.children.clear()


if __name__ == "__main__":  # `python -m local.lambda_shape [arm64|x86_64]`: build (make check-infra)
    out = build(sys.argv[1] if len(sys.argv) > 1 else ARCHITECTURE)
    print(json.dumps({f.logical_id: f.handler for f in built_functions(out)}, indent=1))
