"""A local stand-in for an Okta authorization server: HTTPS (self-signed), OIDC discovery, a
JWKS with RSA keys the tests generate, rotation on demand, and a signer for test tokens."""

from __future__ import annotations

import json
import ssl
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from local.tls import ensure_certificate

AUDIENCE = "api://gateway-tests"


class OktaIssuer:
    def __init__(self, tls_dir: Path) -> None:
        self.cert, key = ensure_certificate(tls_dir)
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.current_kid = self.rotate()
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

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}/oauth2/default"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def rotate(self) -> str:
        """Publish a new signing key (the old ones stay published) and sign with it from now on."""
        kid = uuid.uuid4().hex[:12]
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.current_kid = kid
        return kid

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in self.keys.items():
            jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def claims(self, subject: str, **overrides: Any) -> dict[str, Any]:
        """Valid claims for ``subject``; an override of None removes that claim."""
        now = int(time.time())
        claims = {
            "iss": self.url,
            "aud": AUDIENCE,
            "sub": subject,
            "iat": now,
            "exp": now + 600,
            "email": f"{subject}@example.com",
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(
        self, subject: str, *, kid: str | None = None, key: rsa.RSAPrivateKey | None = None, **overrides: Any
    ) -> str:
        kid = kid or self.current_kid
        signing_key = key or self.keys[kid]
        return jwt.encode(self.claims(subject, **overrides), signing_key, algorithm="RS256", headers={"kid": kid})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
