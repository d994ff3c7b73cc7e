"""Onboarding configuration, read once from the environment (template parameters in AWS).

| variable                       | default         | meaning                                                  |
|--------------------------------|-----------------|----------------------------------------------------------|
| OKTA_ISSUER                    | (unset: off)    | e.g. https://dev-123.okta.com/oauth2/default             |
| OKTA_AUDIENCE                  | api://default   | required ``aud``                                         |
| OKTA_LEEWAY_S                  | 60              | clock skew allowed on exp / nbf / iat                    |
| OKTA_ALLOW_HTTP_ISSUER         | false           | accept an http:// issuer (local development only)        |
| OKTA_JWKS_MIN_REFRESH_S        | 60              | at most one JWKS refetch per this many seconds (unknown kid) |
| OKTA_JWKS_MAX_AGE_S            | 3600            | refetch the JWKS on use once it is this old              |
| OKTA_GROUPS_CLAIM              | groups          | claim holding the user's Okta groups                     |
| OKTA_GROUP_TEAMS               | {}              | JSON {"<okta group>": "<LiteLLM team_id>"}               |
| ONBOARDING_MAX_BUDGET          | (none)          | USD per budget period for a new user                     |
| ONBOARDING_BUDGET_DURATION     | (none)          | e.g. 30d, 1mo                                            |
| ONBOARDING_TPM_LIMIT / _RPM_LIMIT / _MAX_PARALLEL_REQUESTS | (none) | per-user limits             |
| ONBOARDING_MODELS              | (all)           | comma-separated model names a new user may call          |
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from gateway_core.settings import flag

__all__ = ["OnboardingConfig", "get_config"]


def _number(environ: Mapping[str, str], name: str, cast: type) -> Any:
    raw = environ.get(name, "").strip()
    return cast(raw) if raw else None


@dataclass(frozen=True)
class OnboardingConfig:
    issuer: str = ""
    audience: str = "api://default"
    leeway_s: float = 60.0
    allow_http_issuer: bool = False
    jwks_min_refresh_s: float = 60.0
    jwks_max_age_s: float = 3600.0
    groups_claim: str = "groups"
    group_teams: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)  # LiteLLM /user/new fields

    @property
    def enabled(self) -> bool:
        return bool(self.issuer)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> OnboardingConfig:
        defaults = {
            "max_budget": _number(environ, "ONBOARDING_MAX_BUDGET", float),
            "budget_duration": environ.get("ONBOARDING_BUDGET_DURATION", "").strip() or None,
            "tpm_limit": _number(environ, "ONBOARDING_TPM_LIMIT", int),
            "rpm_limit": _number(environ, "ONBOARDING_RPM_LIMIT", int),
            "max_parallel_requests": _number(environ, "ONBOARDING_MAX_PARALLEL_REQUESTS", int),
            "models": [m.strip() for m in environ.get("ONBOARDING_MODELS", "").split(",") if m.strip()] or None,
        }
        return cls(
            issuer=environ.get("OKTA_ISSUER", "").strip().rstrip("/"),
            audience=environ.get("OKTA_AUDIENCE", "").strip() or "api://default",
            leeway_s=float(environ.get("OKTA_LEEWAY_S", "60")),
            allow_http_issuer=flag(environ.get("OKTA_ALLOW_HTTP_ISSUER")),
            jwks_min_refresh_s=float(environ.get("OKTA_JWKS_MIN_REFRESH_S", "60")),
            jwks_max_age_s=float(environ.get("OKTA_JWKS_MAX_AGE_S", "3600")),
            groups_claim=environ.get("OKTA_GROUPS_CLAIM", "groups"),
            group_teams=dict(json.loads(environ.get("OKTA_GROUP_TEAMS") or "{}")),
            defaults={k: v for k, v in defaults.items() if v is not None},
        )


@lru_cache(maxsize=1)
def get_config() -> OnboardingConfig:
    return OnboardingConfig.from_env()
