"""The bench's "over LiteLLM" figures and their 90% ranges (bench/latency.py, bench/__main__.py)."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from bench import latency
from bench.__main__ import _latency_section
from bench.latency import paired_range
from tests.unit.aiohttp_server import serving


def test_a_constant_overhead_has_a_range_of_exactly_itself() -> None:
    base = [float(v) for v in range(1, 201)]
    ours = [v + 1.0 for v in base]
    assert paired_range(ours, base, 50) == (1.0, 1.0)
    assert paired_range(ours, base, 99) == (1.0, 1.0)


def test_two_stalled_rounds_widen_the_p99_range_and_not_the_p50s() -> None:
    base = [10.0] * 100
    ours = [10.0] * 98 + [20.0] * 2
    # p99 of 100 values is the largest: 20 in a resample that drew a stalled round, else 10; one
    # resample in 0.98**100 (13%) draws neither, so the range's low end (5%) is 0, its high end 10.
    assert paired_range(ours, base, 99) == (0.0, 10.0)
    assert paired_range(ours, base, 50) == (0.0, 0.0)


def test_a_median_on_the_edge_ranges_over_both_values() -> None:
    # Half the rounds 1 ms over: a resample's median difference is 0 or 1, about as often.
    base = [10.0] * 100
    ours = [10.0] * 50 + [11.0] * 50
    assert paired_range(ours, base, 50) == (0.0, 1.0)


def test_paths_of_unequal_rounds_have_no_paired_range() -> None:
    with pytest.raises(ValueError, match="one value of each path per round"):
        paired_range([1.0, 2.0], [1.0], 50)


def test_the_serial_sections_give_each_over_litellm_figure_its_range() -> None:
    runs = {"LiteLLM": [10.0] * 20, "gateway OpenAI": [11.5] * 20}
    lines, _ = _latency_section("1. serial", runs)
    assert lines[-2] == (
        "| gateway OpenAI | 11.50 | 11.50 | 11.50 | over LiteLLM: p50 +1.50 (90%: +1.50 to +1.50),"
        " p99 +1.50 (90%: +1.50 to +1.50) |"
    )
    lines, _ = _latency_section("1b. concurrent", runs, paired=False)
    assert lines[-2] == "| gateway OpenAI | 11.50 | 11.50 | 11.50 | over LiteLLM: p50 +1.50, p99 +1.50 |"


def test_a_function_alone_and_a_floor_in_front_of_litellm_get_their_over_litellm_figure_too() -> None:
    runs = {"LiteLLM": [10.0] * 20, "function OpenAI": [11.0] * 20, "floor: bare relay": [10.5] * 20}
    lines, _ = _latency_section("1. serial", runs, paired=False)
    assert lines[-3] == "| function OpenAI | 11.00 | 11.00 | 11.00 | over LiteLLM: p50 +1.00, p99 +1.00 |"
    assert lines[-2] == "| floor: bare relay | 10.50 | 10.50 | 10.50 | over LiteLLM: p50 +0.50, p99 +0.50 |"


def test_serial_reports_every_request_sent_in_order_and_which_were_timed() -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def run() -> tuple[dict[str, list[float]], list[tuple[latency.Target, bool]]]:
        async with serving("/{path}", answer) as url:
            targets = [latency.Target("a", f"{url}/a", {}), latency.Target("b", f"{url}/b", {})]
            sent: list[tuple[latency.Target, bool]] = []
            return await latency.serial(targets, 3, sent=sent), sent

    results, sent = asyncio.run(run())
    assert [(target.name, timed) for target, timed in sent[:40]] == [("a", False), ("b", False)] * 20
    timed = [target.name for target, was_timed in sent[40:] if was_timed]
    assert len(sent) == 46
    assert sorted(timed) == ["a", "a", "a", "b", "b", "b"]
    assert (len(results["a"]), len(results["b"])) == (3, 3)
