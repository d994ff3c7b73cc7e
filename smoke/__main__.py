"""`python -m smoke` (`make smoke GATEWAY_URL=… GATEWAY_KEY=…`): a pass/fail table of one call per
route class; exit status 1 when any fails.

Settings (environment): GATEWAY_URL (the stage URL, the stack's GatewayUrl output), GATEWAY_KEY,
SMOKE_MODEL (default fake-gpt; a model the key may call), PROMPT_ARN and PROMPT_VARIABLES (JSON)
for the managed-prompt call, LONG_STREAM=1 for the stream that must outlast 29 s (about 31 s).
"""

from __future__ import annotations

import json
import os
import sys
import time

from smoke.checks import Gateway, all_checks, describe


def main() -> int:
    url, key = os.environ.get("GATEWAY_URL", "").rstrip("/"), os.environ.get("GATEWAY_KEY", "")
    if not url or not key:
        print("usage: make smoke GATEWAY_URL=<stage url> GATEWAY_KEY=<key> [SMOKE_MODEL= PROMPT_ARN= LONG_STREAM=1]")
        return 2
    gateway = Gateway(
        url,
        key,
        os.environ.get("SMOKE_MODEL") or "fake-gpt",
        os.environ.get("PROMPT_ARN") or None,
        json.loads(os.environ.get("PROMPT_VARIABLES") or "{}"),
    )
    rows: list[tuple[str, str, str]] = []
    for name, check in all_checks(gateway, long=os.environ.get("LONG_STREAM") == "1"):
        if check is None:
            rows.append((name, "SKIP", ""))
            continue
        started = time.monotonic()
        try:
            detail = check(gateway)
            verdict = "PASS"
        except Exception as error:  # noqa: BLE001 (every failure is a row of the table)
            detail, verdict = describe(error), "FAIL"
        rows.append((name, verdict, f"{detail} ({time.monotonic() - started:.1f} s)"))
    width = max(len(name) for name, _, _ in rows)
    print(f"smoke test of {url} (model {gateway.model})")
    for name, verdict, detail in rows:
        print(f"  {name:<{width}}  {verdict:<4}  {detail}")
    failed = [name for name, verdict, _ in rows if verdict == "FAIL"]
    print(
        f"{len(rows) - len(failed)}/{len(rows)} passed or skipped"
        + (f"; FAILED: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
