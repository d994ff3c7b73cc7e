"""Sections 1d and 2b: each relay's own time on the wire, request by request, LiteLLM's left out.

A p99 "over LiteLLM" is the difference of two tails measured on different requests, and LiteLLM's
tail (its spend writers, its roll-ups) is ~10x the size of what a relay adds: at 2,000 rounds its
90% range spans 6-11 ms (README, Performance). Here a loopback capture (tcpdump) taken during the
serial rounds gives, for every request through a relay, the four moments that bound the relay's
part: the client's request in, the relay's request to LiteLLM out, LiteLLM's answer in, the
relay's answer out. What the relay held the request and the answer is then known per request, so
its p99 is a relay's own, whatever LiteLLM did meanwhile. A request straight to LiteLLM holds
nothing by definition; the client's and the kernel's share is the same on both paths.

For a whole answer the relay's part ends with its answer's last byte after LiteLLM's last; for a
stream, the figure the bench times is the first body byte (aiohttp's ``readany``, after the head),
so it is the relay's first body byte after LiteLLM's.

The capture is read here rather than with a pcap library: it is tcpdump's own classic format on
one link type (loopback's Ethernet framing), IPv4 and TCP, and only each segment's time, ports,
size and the first bytes of an answer (to find where its head ends) are needed.
"""

from __future__ import annotations

import bisect
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench import latency

__all__ = [
    "RELAYS",
    "Capture",
    "Exchange",
    "Hold",
    "Segment",
    "by_target",
    "capture",
    "dropped_by_kernel",
    "exchanges",
    "holds",
    "is_relay",
    "port_of",
    "segments",
    "serial_with_holds",
    "table",
    "unavailable",
]

_NANOSECOND_MAGIC = 0xA1B23C4D
_MICROSECOND_MAGIC = 0xA1B2C3D4
_ETHERNET = 1
_IPV4 = 0x0800
_TCP = 6
# Enough for a whole answer head (LiteLLM's has ~25 headers, ~1.5 KB): where the body begins.
SNAPLEN = 4096
HEAD_END = b"\r\n\r\n"


@dataclass(frozen=True)
class Segment:
    """One TCP segment that carried data: when it was seen (seconds), from where to where, how
    many bytes, and the first of them (up to the capture's snapshot length)."""

    at: float
    source: tuple[str, int]
    destination: tuple[str, int]
    size: int
    data: bytes = b""


def segments(pcap: bytes) -> list[Segment]:
    """The data-carrying IPv4 TCP segments of a classic pcap file of Ethernet frames, in order."""
    if len(pcap) < 24:
        raise ValueError("not a pcap file: shorter than its header")
    for order in "<>":
        magic, _, _, _, _, _, link = struct.unpack_from(order + "IHHiIII", pcap)
        if magic in (_NANOSECOND_MAGIC, _MICROSECOND_MAGIC):
            break
    else:
        raise ValueError("not a classic pcap file (pcapng or another format)")
    if link != _ETHERNET:
        raise ValueError(f"link type {link}: only loopback's Ethernet framing (1) is read")
    fraction = 1e-9 if magic == _NANOSECOND_MAGIC else 1e-6
    found: list[Segment] = []
    offset = 24
    while offset + 16 <= len(pcap):
        seconds, part, captured, _ = struct.unpack_from(order + "IIII", pcap, offset)
        frame = pcap[offset + 16 : offset + 16 + captured]
        offset += 16 + captured
        segment = _tcp_data(frame, seconds + part * fraction)
        if segment is not None:
            found.append(segment)
    return found


def _tcp_data(frame: bytes, at: float) -> Segment | None:
    if len(frame) < 14 + 20 or struct.unpack_from("!H", frame, 12)[0] != _IPV4:
        return None
    ip = frame[14:]
    header = (ip[0] & 0x0F) * 4
    total = struct.unpack_from("!H", ip, 2)[0]
    if ip[9] != _TCP or len(ip) < header + 20:
        return None
    tcp = ip[header:]
    data_offset = (tcp[12] >> 4) * 4
    size = total - header - data_offset
    if size <= 0:
        return None
    source_port, destination_port = struct.unpack_from("!HH", tcp)
    source = (".".join(map(str, ip[12:16])), source_port)
    destination = (".".join(map(str, ip[16:20])), destination_port)
    return Segment(at, source, destination, size, bytes(tcp[data_offset:]))


@dataclass
class Exchange:
    """One request and its answer on one connection to a server (HTTP/1.1, nothing pipelined):
    when the request's first and last bytes were seen, and the answer's first byte, first body
    byte (after its head) and last byte."""

    client: tuple[str, int]
    request_first: float
    request_last: float
    answer_first: float = float("nan")
    answer_body_first: float = float("nan")
    answer_last: float = float("nan")
    answer_bytes: int = field(default=0, repr=False)
    _head: bytes = field(default=b"", repr=False)
    _head_size: int = field(default=-1, repr=False)  # bytes up to and including HEAD_END; -1 not yet found

    def add_answer(self, segment: Segment) -> None:
        if self.answer_bytes == 0:
            self.answer_first = segment.at
        if self._head_size < 0:
            self._head += segment.data
            end = self._head.find(HEAD_END)
            if end >= 0:
                self._head_size = end + len(HEAD_END)
        start = self.answer_bytes
        self.answer_bytes += segment.size
        if self._head_size >= 0 and self.answer_bytes > self._head_size and start <= self._head_size:
            self.answer_body_first = segment.at
        self.answer_last = segment.at


def exchanges(found: Sequence[Segment], server_port: int) -> list[Exchange]:
    """Every exchange with the server on ``server_port``, in the order their requests began: on a
    connection, a request runs from a client's segment that follows an answer (or opens it) until
    the server answers; the answer until the client writes again."""
    open_ones: dict[tuple[str, int], Exchange] = {}
    done: list[Exchange] = []
    for segment in found:
        if segment.destination[1] == server_port:
            current = open_ones.get(segment.source)
            if current is None or current.answer_bytes:
                current = Exchange(segment.source, segment.at, segment.at)
                open_ones[segment.source] = current
                done.append(current)
            current.request_last = segment.at
        elif segment.source[1] == server_port and segment.destination in open_ones:
            open_ones[segment.destination].add_answer(segment)
    return sorted(done, key=lambda exchange: exchange.request_first)


@dataclass(frozen=True)
class Hold:
    """What a relay held one request (ms): from the client's request in to its own request to
    LiteLLM out, and from LiteLLM's answer in to its own out (last byte; first body byte)."""

    before: float
    after_last: float
    after_first_body: float

    @property
    def whole(self) -> float:
        return self.before + self.after_last

    @property
    def first_body(self) -> float:
        return self.before + self.after_first_body


def holds(front: Sequence[Exchange], upstream: Sequence[Exchange]) -> list[Hold]:
    """For each exchange with a relay (``front``), the one exchange with LiteLLM (``upstream``) that
    began while the relay held it. The rounds are serial, so there is exactly one; a relay that
    made none or several (an error, a retry) is reported rather than guessed at."""
    out: list[Hold] = []
    starts = [exchange.request_first for exchange in upstream]
    for exchange in front:
        first = bisect.bisect_left(starts, exchange.request_last)
        inside = upstream[first : bisect.bisect_right(starts, exchange.answer_last)]
        if len(inside) != 1:
            raise ValueError(
                f"the relay's exchange at {exchange.request_first:.6f} s made {len(inside)} requests to LiteLLM"
            )
        call = inside[0]
        out.append(
            Hold(
                (call.request_first - exchange.request_last) * 1000,
                (exchange.answer_last - call.answer_last) * 1000,
                (exchange.answer_body_first - call.answer_body_first) * 1000,
            )
        )
    return out


def by_target(
    front: Sequence[Exchange], upstream: Sequence[Exchange], sequence: Sequence[tuple[str, bool]]
) -> dict[str, list[Hold]]:
    """The holds of one relay's exchanges, named by ``sequence``: the target of each request sent
    to that relay, in the order sent, and whether it was timed (warm-up requests are not)."""
    if len(front) != len(sequence):
        raise ValueError(f"the capture holds {len(front)} exchanges with the relay, {len(sequence)} were sent")
    named: dict[str, list[Hold]] = {}
    for (name, timed), hold in zip(sequence, holds(front, upstream), strict=True):
        if timed:
            named.setdefault(name, []).append(hold)
    return named


def unavailable() -> str | None:
    """Why a capture cannot be taken here (None when it can): tcpdump and the right to capture."""
    if shutil.which("tcpdump") is None:
        return "tcpdump is not installed"
    if os.geteuid() != 0:
        return "capturing needs root (CAP_NET_RAW)"
    return None


@dataclass
class Capture:
    """A capture: once finished, its segments and the packets the kernel dropped (a figure from a
    capture that dropped any is not shown)."""

    found: list[Segment] = field(default_factory=list)
    dropped: int = 0

    def exchanges(self, port: int) -> list[Exchange]:
        return exchanges(self.found, port)


@contextmanager
def capture(ports: Sequence[int], path: Path) -> Iterator[Capture]:
    """tcpdump on loopback for the TCP ``ports`` into ``path``, from before the block runs until
    after it; the yielded Capture is filled in once the block is done (tcpdump flushed and
    stopped). The file stays, for a closer look."""
    with socket.create_server(("127.0.0.1", 0)) as marker:
        rule = " or ".join(f"tcp port {port}" for port in (*ports, marker.getsockname()[1]))
        argv = ["tcpdump", "-i", "lo", "-U", "--immediate-mode", "-n", "-s", str(SNAPLEN), "-B", "16384"]
        argv += ["--time-stamp-precision=nano", "-w", str(path), rule]
        process = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)  # noqa: S603
        assert process.stderr is not None
        started = process.stderr.readline()  # tcpdump says it listens once the capture is open
        if "listening on" not in started:
            process.kill()
            raise RuntimeError(f"tcpdump did not start: {started.strip()} {process.stderr.read().strip()}")
        result = Capture()
        try:
            yield result
            _mark_the_end(marker, path)
        finally:
            process.send_signal(signal.SIGINT)
            summary = process.stderr.read()
            process.wait(timeout=60)
    result.found, result.dropped = segments(path.read_bytes()), dropped_by_kernel(summary)


def dropped_by_kernel(summary: str) -> int:
    """What tcpdump's closing summary says the kernel dropped (packets it never saw)."""
    found = re.search(r"(\d+) packets? dropped by kernel", summary)
    return int(found.group(1)) if found else 0


def _mark_the_end(marker: socket.socket, path: Path) -> None:
    """Send a token through the capture and wait until tcpdump has written it: the packets are
    written in order, so everything the block sent is in the file by then. (tcpdump stopped at
    once may not have written the last packets it was given.)"""
    token = f"end of capture {os.getpid()} {time.monotonic_ns()}".encode()
    searched = max(0, path.stat().st_size - SNAPLEN)  # the token can only come after what is written now
    with socket.create_connection(marker.getsockname()) as client:
        accepted, _ = marker.accept()
        with accepted:
            client.sendall(token)
            deadline = time.monotonic() + 30
            with path.open("rb") as written:
                while True:
                    written.seek(searched)
                    if token in written.read():
                        return
                    if time.monotonic() > deadline:
                        raise RuntimeError("tcpdump did not write the end-of-capture token within 30 s")
                    time.sleep(0.005)  # polling the file for the token (the condition), not a fixed wait


RELAYS = ("gateway", "function", "floor", latency.UPSTREAM)  # how a relay's target name begins


def port_of(url: str) -> int:
    return int(url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])


def is_relay(target: latency.Target) -> bool:
    """A path through a relay in front of LiteLLM: ours (the gateway, or a function alone), the
    upstream middleware, or a floor (bench.floor)."""
    return target.name.startswith(RELAYS)


async def serial_with_holds(
    all_targets: list[latency.Target],
    rounds: int,
    litellm_url: str,
    pcap: Path,
    timed: latency.Timed = latency.whole,
    headers: dict[str, str] | None = None,
) -> tuple[dict[str, list[float]], dict[str, list[Hold] | str] | str]:
    """``latency.serial`` under a capture: its results, and each relay target's holds (or why
    there are none: no capture possible here, or packets dropped)."""
    reason = unavailable()
    if reason is not None:
        return await latency.serial(all_targets, rounds, timed, headers), reason
    relays = sorted({port_of(t.url) for t in all_targets if is_relay(t)})
    sent: list[tuple[latency.Target, bool]] = []
    litellm_port = port_of(litellm_url)
    with capture([litellm_port, *relays], pcap) as done:
        results = await latency.serial(all_targets, rounds, timed, headers, sent)
    if done.dropped:
        return results, f"the capture dropped {done.dropped} packets"
    upstream = done.exchanges(litellm_port)
    named: dict[str, list[Hold] | str] = {}
    for port in relays:
        sequence = [(target.name, was_timed) for target, was_timed in sent if port_of(target.url) == port]
        try:
            named.update(by_target(done.exchanges(port), upstream, sequence))
        except ValueError as exc:  # one relay's odd exchange (a retry, an error) leaves the others' figures
            named.update(dict.fromkeys((name for name, _ in sequence), str(exc)))
    return results, {t.name: named[t.name] for t in all_targets if t.name in named}  # in the targets' order


def table(title: str, named: Mapping[str, list[Hold] | str] | str, stream: bool) -> list[str]:
    """p50 of each side, and the whole hold's p50 and p99 with their 90% ranges (a bootstrap over
    the requests). ``stream``: up to the first body byte, else to the last byte."""
    lines = [f"### {title}", ""]
    if isinstance(named, str):
        return [*lines, f"Skipped: {named}.", ""]
    end = "first body byte" if stream else "last byte"
    lines += [
        f"| path | request in to LiteLLM's request out, p50 ms | LiteLLM's {end} to ours, p50 ms"
        " | held, p50 ms (90%) | held, p99 ms (90%) |",
        "|---|---|---|---|---|",
    ]
    for name, found in named.items():
        if isinstance(found, str):
            lines.append(f"| {name} | not measured: {found} | | | |")
            continue
        after = [h.after_first_body if stream else h.after_last for h in found]
        held = [h.first_body if stream else h.whole for h in found]
        zeros = [0.0] * len(held)
        cells = [f"{latency.percentile([h.before for h in found], 50):.2f}", f"{latency.percentile(after, 50):.2f}"]
        for q in (50.0, 99.0):
            low, high = latency.paired_range(held, zeros, q)  # against zero: the range of the percentile itself
            cells.append(f"{latency.percentile(held, q):.2f} ({low:.2f} to {high:.2f})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return [*lines, ""]
