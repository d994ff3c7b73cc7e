"""The tests' Okta issuer: local.okta's (HTTPS, discovery, JWKS, rotation, a signer) with an
audience of its own, its state in the test stack's data folder so `python -m local.okta token`
(the README's walk-through) signs tokens this issuer vouches for."""

from __future__ import annotations

from local.okta import OktaIssuer

__all__ = ["AUDIENCE", "OktaIssuer"]

AUDIENCE = "api://gateway-tests"
