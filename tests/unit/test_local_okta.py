"""The local Okta issuer (`LOCAL_OKTA=1 make dev`) and its token command, as a reader uses them:
`python -m local.okta serve` in one process, `python -m local.okta token alice` in another, from
another directory; the token passes the onboarding function's own verification (discovery and
JWKS over HTTPS, RS256, issuer, audience)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest
from user_keys.config import OnboardingConfig
from user_keys.okta import JwksCache, TokenRejected, verify_token


def test_a_token_from_the_command_passes_the_gateways_verification(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**os.environ, "LOCAL_DATA_DIR": str(tmp_path / "data")}
    state = tmp_path / "data" / "okta" / "issuer.json"
    server = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "local.okta", "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while not state.exists():  # written once the issuer listens
            assert server.poll() is None and time.monotonic() < deadline, server.stderr
            time.sleep(0.05)
        issuer = json.loads(state.read_text())["issuer"]
        token = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "local.okta", "token", "alice", "--group", "okta-engineering"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "data" / "okta" / "tls" / "cert.pem"))
        cache = JwksCache(OnboardingConfig(issuer=issuer))
        claims = asyncio.run(verify_token(token, cache))
        assert (claims["iss"], claims["aud"], claims["sub"], claims["email"], claims["groups"]) == (
            issuer,
            "api://default",
            "alice",
            "alice@example.com",
            ["okta-engineering"],
        )
        assert claims["exp"] - claims["iat"] == 600
        assert jwt.get_unverified_header(token)["alg"] == "RS256"

        other_audience = JwksCache(OnboardingConfig(issuer=issuer, audience="api://other"))
        with pytest.raises(TokenRejected):
            asyncio.run(verify_token(token, other_audience))
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=10)
    assert server.returncode == 0
    assert err == b""  # a quiet stop
    assert out.decode() == f"local Okta issuer {issuer} (audience api://default)\n"


def test_the_token_command_says_how_to_start_the_issuer(tmp_path: Path) -> None:
    env = {**os.environ, "LOCAL_DATA_DIR": str(tmp_path)}
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "local.okta", "token", "alice"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    assert result.stderr == f"no local Okta issuer in {tmp_path / 'okta'}: start the stack with LOCAL_OKTA=1 make dev\n"
