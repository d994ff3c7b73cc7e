"""Behaviour knobs: environment defaults (FAKE_*), overridden per request by x-fake-* headers.

| knob              | env / header                                     | meaning                                  |
|-------------------|--------------------------------------------------|------------------------------------------|
| latency_ms        | FAKE_LATENCY_MS / x-fake-latency-ms              | wait before answering (any route)        |
| ttft_ms           | FAKE_TTFT_MS / x-fake-ttft-ms                    | wait before the first streamed chunk     |
| chunk_delay_ms    | FAKE_CHUNK_DELAY_MS / x-fake-chunk-delay-ms      | wait between streamed chunks             |
| chunks            | FAKE_CHUNKS / x-fake-chunks                      | number of content chunks (words)         |
| error_status      | FAKE_ERROR_STATUS / x-fake-error-status          | answer with this HTTP error status       |
| error_rate        | FAKE_ERROR_RATE / x-fake-error-rate              | probability (0..1) of that error         |
| fail_after_chunks | FAKE_FAIL_AFTER_CHUNKS / x-fake-fail-after-chunks| break a stream after N content chunks    |
| echo              | FAKE_ECHO / x-fake-echo                          | answer with the JSON request received    |
| litellm_headers   | FAKE_LITELLM_HEADERS / x-fake-litellm-headers    | chat answers carry the ~25 headers       |
|                   |                                                  | LiteLLM adds to one (bench section 1c,   |
|                   |                                                  | where the fake stands in for LiteLLM)    |
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, fields

__all__ = ["Knobs", "KnobError"]


class KnobError(ValueError):
    pass


@dataclass(frozen=True)
class Knobs:
    latency_ms: float = 0
    ttft_ms: float = 0
    chunk_delay_ms: float = 0
    chunks: int = 8
    error_status: int = 0
    error_rate: float = 0
    fail_after_chunks: int = -1
    echo: bool = False
    litellm_headers: bool = False

    @classmethod
    def resolve(cls, headers: Mapping[str, str], environ: Mapping[str, str] = os.environ) -> Knobs:
        values: dict[str, object] = {}
        for spec in fields(cls):
            header = "x-fake-" + spec.name.replace("_", "-")
            raw = headers.get(header, environ.get("FAKE_" + spec.name.upper()))
            if raw is None or raw == "":
                continue
            kind = {"float": float, "int": int, "bool": bool}[str(spec.type)]
            try:
                values[spec.name] = raw.strip().lower() in {"1", "true", "yes"} if kind is bool else kind(raw)
            except ValueError as exc:
                raise KnobError(f"{header}: {raw!r} is not a valid {kind.__name__}") from exc
        knobs = cls(**values)  # type: ignore[arg-type]
        if knobs.chunks < 1:
            raise KnobError("x-fake-chunks must be at least 1")
        if not 0 <= knobs.error_rate <= 1:
            raise KnobError("x-fake-error-rate must be between 0 and 1")
        return knobs

    def failing_status(self) -> int:
        """The error status to answer with now, or 0 for a normal answer."""
        if self.error_rate and random.random() >= self.error_rate:  # noqa: S311 (not crypto)
            return 0
        if self.error_rate and not self.error_status:
            return 500
        return self.error_status
