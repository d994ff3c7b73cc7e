"""Run the fake provider standalone: ``python -m fake_provider --port 8090`` (e.g. for load tests).

Knobs (latency, time to first token, chunking, errors) come from FAKE_* environment variables
and x-fake-* request headers; see fake_provider/knobs.py.
"""

from __future__ import annotations

import argparse

import uvicorn


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m fake_provider", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    uvicorn.run("fake_provider.app:app", host=args.host, port=args.port, workers=args.workers, log_level="warning")


if __name__ == "__main__":
    main()
