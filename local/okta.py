"""A local stand-in for an Okta authorization server, to try the onboarding flow on a laptop:
HTTPS (a self-signed certificate), OIDC discovery, a JWKS of RSA keys, rotation on demand, and a
signer for tokens of made-up users.

  python -m local.okta serve --port 0    the issuer (``LOCAL_OKTA=1 make dev`` starts it)
  python -m local.okta token alice       prints a signed access token for user ``alice``

The issuer keeps its state in ``<LOCAL_DATA_DIR>/okta/``: its certificate, its signing keys and
``issuer.json`` (its URL and audience), which the ``token`` command reads.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from local.template import REPO_ROOT
from local.tls import ensure_certificate

__all__ = ["DEFAULT_AUDIENCE", "OktaIssuer", "okta_dir", "sign_token"]

DEFAULT_AUDIENCE = "api://default"  # Okta's default authorization server; the gateway's OKTA_AUDIENCE default
STATE_FILE = "issuer.json"


def okta_dir(data_dir: Path | None = None) -> Path:
    data_dir = data_dir or Path(os.environ.get("LOCAL_DATA_DIR", REPO_ROOT / ".local"))
    return data_dir.resolve() / "okta"


def claims(issuer: str, audience: str, subject: str, **overrides: Any) -> dict[str, Any]:
    """Valid access-token claims for ``subject`` (10 minutes); an override of None removes a claim."""
    now = int(time.time())
    values: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": now,
        "exp": now + 600,
        "email": f"{subject}@example.com",
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


class OktaIssuer:
    """The issuer, served from a thread of this process on 127.0.0.1."""

    def __init__(self, folder: Path, audience: str = DEFAULT_AUDIENCE, port: int = 0) -> None:
        self.folder = folder
        self.audience = audience
        self.cert, key = ensure_certificate(folder / "tls")
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.jwks_fetches = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if self.path.endswith("/.well-known/openid-configuration"):
                    body: dict[str, Any] = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/v1/keys"}
                elif self.path.endswith("/v1/keys"):
                    issuer.jwks_fetches += 1
                    body = issuer.jwks()
                else:
                    self.send_error(404)
                    return
                payload = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}/oauth2/default"
        self.current_kid = self.rotate()
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def rotate(self) -> str:
        """Publish a new signing key (the old ones stay published) and sign with it from now on."""
        kid = uuid.uuid4().hex[:12]
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.current_kid = kid
        self._save()
        return kid

    def _save(self) -> None:
        """Where ``python -m local.okta token`` finds the issuer and its current key."""
        self.folder.mkdir(parents=True, exist_ok=True)
        pem = self.keys[self.current_kid].private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        state = {"issuer": self.url, "audience": self.audience, "kid": self.current_kid, "key": pem.decode()}
        path = self.folder / STATE_FILE
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state))
        temporary.chmod(0o600)
        temporary.replace(path)

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in self.keys.items():
            jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def claims(self, subject: str, **overrides: Any) -> dict[str, Any]:
        return claims(self.url, self.audience, subject, **overrides)

    def token(
        self, subject: str, *, kid: str | None = None, key: rsa.RSAPrivateKey | None = None, **overrides: Any
    ) -> str:
        kid = kid or self.current_kid
        signing_key = key or self.keys[kid]
        return jwt.encode(self.claims(subject, **overrides), signing_key, algorithm="RS256", headers={"kid": kid})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def sign_token(subject: str, folder: Path, groups: list[str] | None = None) -> str:
    """A token from the running issuer whose state is in ``folder``."""
    try:
        state = json.loads((folder / STATE_FILE).read_text())
    except FileNotFoundError:
        raise SystemExit(f"no local Okta issuer in {folder}: start the stack with LOCAL_OKTA=1 make dev") from None
    key = serialization.load_pem_private_key(state["key"].encode(), password=None)
    extra = {"groups": groups} if groups else {}
    payload = claims(state["issuer"], state["audience"], subject, **extra)
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": state["kid"]})  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.okta", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the issuer until interrupted")
    serve.add_argument("--port", type=int, default=0)
    serve.add_argument("--audience", default=DEFAULT_AUDIENCE)
    token = commands.add_parser("token", help="print a signed access token for a made-up user")
    token.add_argument("user", help="the token's sub (and <user>@example.com as its email)")
    token.add_argument("--group", action="append", help="a group in the token's groups claim (repeatable)")
    args = parser.parse_args(argv)
    if args.command == "token":
        print(sign_token(args.user, okta_dir(), args.group))
        return 0
    issuer = OktaIssuer(okta_dir(), args.audience, args.port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # the stack stops its children with SIGTERM
    print(f"local Okta issuer {issuer.url} (audience {issuer.audience})", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        issuer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
