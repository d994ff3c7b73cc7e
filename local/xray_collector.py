"""A stand-in for the X-Ray daemon: takes segment documents over UDP, as the daemon does, and
appends each as one JSON line to a file (``make dev``: ``<data dir>/logs/xray-segments.jsonl``).

The X-Ray SDK sends ``{"format":"json","version":1}\\n<document>`` per datagram; documents are
whole segments, or subsegments streamed on their own (they name their trace and parent).
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
from pathlib import Path
from types import FrameType

__all__ = ["free_udp_port", "main"]

_HEADER = b'{"format":"json","version":1}'


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(signum: int, _: FrameType | None) -> None:
    sys.exit(0)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m local.xray_collector")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _stop)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock, args.out.open("ab") as out:
        sock.bind(("127.0.0.1", args.port))
        print(f"X-Ray collector on udp 127.0.0.1:{args.port}, writing {args.out}", flush=True)
        while True:
            datagram, _ = sock.recvfrom(65535)
            header, _, document = datagram.partition(b"\n")
            if header.strip() == _HEADER and document.strip():
                out.write(document.strip() + b"\n")
                out.flush()


if __name__ == "__main__":
    main()
