"""Section 1d's capture reading and arithmetic (bench/wire.py), on pcap files written here by hand,
and once on a real tcpdump capture of a relay that holds each request a known time."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bench import latency, wire
from tests.unit.aiohttp_server import serving

CLIENT = ("127.0.0.1", 50000)
RELAY = ("127.0.0.1", 8000)
RELAY_OUT = ("127.0.0.1", 50001)
LITELLM = ("127.0.0.1", 4000)


def _frame(source: tuple[str, int], destination: tuple[str, int], payload: bytes, protocol: int = 6) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", source[1], destination[1], 0, 0, 5 << 4, 0x18, 65535, 0, 0)
    total = 20 + len(tcp) + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0, 64, protocol, 0, _ip(source[0]), _ip(destination[0]))
    return b"\0" * 12 + struct.pack("!H", 0x0800) + ip + tcp + payload


def _ip(address: str) -> bytes:
    return bytes(int(part) for part in address.split("."))


def _pcap(frames: list[tuple[float, bytes]], nanoseconds: bool = True, snaplen: int = 4096) -> bytes:
    magic = 0xA1B23C4D if nanoseconds else 0xA1B2C3D4
    scale = 1_000_000_000 if nanoseconds else 1_000_000
    out = struct.pack("<IHHiIII", magic, 2, 4, 0, 0, snaplen, 1)
    for at, frame in frames:
        kept = frame[:snaplen]
        seconds = int(at)
        out += struct.pack("<IIII", seconds, round((at - seconds) * scale), len(kept), len(frame)) + kept
    return out


HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n"


def test_segments_keep_tcp_data_only_with_their_time_ports_and_size() -> None:
    ack = _frame(RELAY, CLIENT, b"")
    udp = _frame(CLIENT, RELAY, b"x" * 10, protocol=17)
    ipv6 = b"\0" * 12 + struct.pack("!H", 0x86DD) + b"\0" * 60
    pcap = _pcap([(10.5, _frame(CLIENT, RELAY, b"POST / HTTP/1.1\r\n")), (10.6, ack), (10.7, udp), (10.8, ipv6)])
    assert wire.segments(pcap) == [wire.Segment(10.5, CLIENT, RELAY, 17, b"POST / HTTP/1.1\r\n")]


def test_microsecond_captures_and_the_size_beyond_the_snapshot() -> None:
    pcap = _pcap([(3.25, _frame(LITELLM, RELAY_OUT, b"a" * 300))], nanoseconds=False, snaplen=14 + 40 + 100)
    (segment,) = wire.segments(pcap)
    assert (segment.at, segment.size, segment.data) == (3.25, 300, b"a" * 100)


def test_other_files_are_refused() -> None:
    with pytest.raises(ValueError, match="pcapng"):
        wire.segments(b"\x0a\x0d\x0d\x0a" + b"\0" * 40)
    linux_cooked = struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 4096, 113)
    with pytest.raises(ValueError, match="link type 113"):
        wire.segments(linux_cooked)


def _segment(at: float, source: tuple[str, int], destination: tuple[str, int], data: bytes) -> wire.Segment:
    return wire.Segment(at, source, destination, len(data), data)


def test_exchanges_follow_each_connection_and_find_the_first_body_byte() -> None:
    other = ("127.0.0.1", 50002)
    found = [
        _segment(1.000, CLIENT, RELAY, b"POST /a HTTP/1.1\r\n"),
        _segment(1.001, CLIENT, RELAY, b"\r\n{}"),
        _segment(1.002, other, RELAY, b"GET /b HTTP/1.1\r\n\r\n"),  # another connection, interleaved
        _segment(1.010, RELAY, CLIENT, HEAD[:20]),  # the head in two segments
        _segment(1.011, RELAY, CLIENT, HEAD[20:]),
        _segment(1.020, RELAY, CLIENT, b"5\r\nhello\r\n"),
        _segment(1.030, RELAY, CLIENT, b"0\r\n\r\n"),
        _segment(1.040, RELAY, other, HEAD + b"5\r\nhello\r\n0\r\n\r\n"),  # head and body in one
        _segment(2.000, CLIENT, RELAY, b"POST /c HTTP/1.1\r\n\r\n"),  # the same connection again
        _segment(2.010, RELAY, CLIENT, HEAD),
        _segment(2.020, RELAY, CLIENT, b"0\r\n\r\n"),
    ]
    first, second, third = wire.exchanges(found, RELAY[1])
    assert (first.client, first.request_first, first.request_last) == (CLIENT, 1.000, 1.001)
    assert (first.answer_first, first.answer_body_first, first.answer_last) == (1.010, 1.020, 1.030)
    assert (second.client, second.request_first, second.request_last) == (other, 1.002, 1.002)
    assert (second.answer_first, second.answer_body_first, second.answer_last) == (1.040, 1.040, 1.040)
    assert (third.client, third.request_first, third.answer_body_first, third.answer_last) == (
        CLIENT,
        2.000,
        2.020,
        2.020,
    )


def _relayed(start: float, out: float, litellm_last: float, last: float) -> list[wire.Segment]:
    """One request through the relay: in at ``start``, to LiteLLM at ``out``, LiteLLM's head 1 ms
    later and its body ``litellm_last``; the relay's head and body at ``last``."""
    return [
        _segment(start - 0.0002, CLIENT, RELAY, b"POST / HTTP/1.1\r\n\r\n"),  # the relay holds it from its last byte
        _segment(start, CLIENT, RELAY, b"{}"),
        _segment(out, RELAY_OUT, LITELLM, b"POST / HTTP/1.1\r\n\r\n{}"),
        _segment(out + 0.001, LITELLM, RELAY_OUT, HEAD),
        _segment(litellm_last, LITELLM, RELAY_OUT, b"2\r\n{}\r\n0\r\n\r\n"),
        _segment(last, RELAY, CLIENT, HEAD + b"2\r\n{}\r\n0\r\n\r\n"),
    ]


def test_holds_are_the_relays_time_before_and_after_litellm() -> None:
    found = _relayed(1.0, 1.0005, 1.0200, 1.0212) + _relayed(2.0, 2.0011, 2.0300, 2.0303)
    front, upstream = wire.exchanges(found, RELAY[1]), wire.exchanges(found, LITELLM[1])
    first, second = wire.holds(front, upstream)
    assert first.before == pytest.approx(0.5)
    assert first.after_last == pytest.approx(1.2)
    assert first.after_first_body == pytest.approx(1.2)  # LiteLLM's body at 1.0200, the relay's at 1.0212
    assert (first.whole, first.first_body) == (pytest.approx(1.7), pytest.approx(1.7))
    assert (second.before, second.after_last) == (pytest.approx(1.1), pytest.approx(0.3))


def test_a_relay_exchange_with_no_or_two_calls_to_litellm_is_refused() -> None:
    found = _relayed(1.0, 1.001, 1.010, 1.011)
    front = wire.exchanges(found, RELAY[1])
    with pytest.raises(ValueError, match="made 0 requests to LiteLLM"):
        wire.holds(front, [])
    retry = _relayed(1.0, 1.001, 1.010, 1.011)[2:5]
    retried = [_segment(s.at + 0.004, ("127.0.0.1", 50009), s.destination, s.data) for s in retry]
    both = wire.exchanges(sorted(found + retried, key=lambda s: s.at), LITELLM[1])
    with pytest.raises(ValueError, match="made 2 requests to LiteLLM"):
        wire.holds(front, both)


def test_holds_by_target_leave_out_the_warm_up_and_count_the_exchanges() -> None:
    found = _relayed(1.0, 1.001, 1.010, 1.011) + _relayed(2.0, 2.002, 2.010, 2.011) + _relayed(3.0, 3.003, 3.01, 3.011)
    front, upstream = wire.exchanges(found, RELAY[1]), wire.exchanges(found, LITELLM[1])
    named = wire.by_target(front, upstream, [("a", False), ("a", True), ("b", True)])
    assert {name: [round(h.before, 6) for h in holds] for name, holds in named.items()} == {"a": [2.0], "b": [3.0]}
    with pytest.raises(ValueError, match="3 exchanges with the relay, 2 were sent"):
        wire.by_target(front, upstream, [("a", True), ("b", True)])


def test_the_table_gives_each_side_and_the_held_percentiles() -> None:
    holds = [wire.Hold(0.5, 0.25, 0.2)] * 98 + [wire.Hold(2.0, 1.0, 3.0)] * 2
    whole = wire.table("1d. held", {"gateway OpenAI": holds}, stream=False)
    assert whole[2] == (
        "| path | request in to LiteLLM's request out, p50 ms | LiteLLM's last byte to ours, p50 ms"
        " | held, p50 ms (90%) | held, p99 ms (90%) |"
    )
    assert whole[4] == "| gateway OpenAI | 0.50 | 0.25 | 0.75 (0.75 to 0.75) | 3.00 (0.75 to 3.00) |"
    streamed = wire.table("2b. held", {"gateway OpenAI": holds}, stream=True)
    assert streamed[4] == "| gateway OpenAI | 0.50 | 0.20 | 0.70 (0.70 to 0.70) | 5.00 (0.70 to 5.00) |"
    odd = wire.table("1d. held", {"theirs": "the relay's exchange at 1.0 s made 2 requests to LiteLLM"}, stream=False)
    assert odd[4] == "| theirs | not measured: the relay's exchange at 1.0 s made 2 requests to LiteLLM | | | |"
    assert wire.table("1d. held", "tcpdump is not installed", stream=False) == [
        "### 1d. held",
        "",
        "Skipped: tcpdump is not installed.",
        "",
    ]


HOLD_BEFORE_MS = 30
HOLD_AFTER_MS = 20


@pytest.mark.skipif(wire.unavailable() is not None, reason=str(wire.unavailable()))
def test_a_real_capture_measures_what_a_relay_holds(tmp_path: Path) -> None:
    """A relay that waits 30 ms before it calls its upstream and 20 ms before it answers: on the wire
    it held each request ~30 + ~20 ms, and a request straight to the upstream is not counted."""

    async def run() -> tuple[dict[str, list[float]], dict[str, list[wire.Hold] | str] | str]:
        async def upstream(request: web.Request) -> web.Response:
            return web.json_response({"choices": [{"message": {"content": "hi"}}]})

        async def relay(request: web.Request) -> web.Response:
            await asyncio.sleep(HOLD_BEFORE_MS / 1000)  # what the relay is measured holding
            async with session.post(upstream_url, data=await request.read()) as answer:
                body = await answer.read()
            await asyncio.sleep(HOLD_AFTER_MS / 1000)
            return web.Response(body=body, content_type="application/json")

        async with (
            serving("/v1/chat/completions", upstream) as upstream_base,
            serving("/v1/chat/completions", relay) as relay_base,
        ):
            upstream_url = f"{upstream_base}/v1/chat/completions"
            async with aiohttp.ClientSession() as session:
                targets = [
                    latency.Target("LiteLLM", upstream_url, {}),
                    latency.Target("gateway OpenAI", f"{relay_base}/v1/chat/completions", {}),
                ]
                return await wire.serial_with_holds(targets, 5, upstream_url, tmp_path / "wire.pcap")

    results, held = asyncio.run(run())
    assert isinstance(held, dict), held
    assert list(held) == ["gateway OpenAI"]
    holds = held["gateway OpenAI"]
    assert not isinstance(holds, str), holds
    assert len(holds) == len(results["gateway OpenAI"]) == 5
    for hold in holds:
        assert HOLD_BEFORE_MS <= hold.before < HOLD_BEFORE_MS + 25
        assert HOLD_AFTER_MS <= hold.after_last < HOLD_AFTER_MS + 25


def test_the_kernels_drops_are_read_from_tcpdumps_summary() -> None:
    summary = "4711 packets captured\n4711 packets received by filter\n12 packets dropped by kernel\n"
    assert wire.dropped_by_kernel(summary) == 12
    assert wire.dropped_by_kernel("1 packet captured\n1 packet received by filter\n1 packet dropped by kernel\n") == 1
    assert wire.dropped_by_kernel("") == 0
