"""Section 1c's table: each row's share worked out from the right pair of rows."""

from __future__ import annotations

from bench.relay import table


def test_floors_and_our_apps_share_come_from_the_rows_they_name() -> None:
    runs = {
        "whole answer": {
            "fake direct": [1.0, 1.0, 1.0],
            "floor: byte splice": [1.1, 1.1, 1.1],
            "floor: bare relay": [1.4, 1.4, 1.4],
            "function OpenAI": [1.75, 1.75, 1.75],
            "function OpenAI, not sampled": [1.5, 1.5, 1.5],
            "stand-in OpenAI": [1.8, 1.8, 1.8],
            "before OpenAI": [2.0, 2.0, 2.0],
        }
    }
    lines = table(runs, 3, baseline="abc1234")
    rows = {line.split(" | ")[1]: line for line in lines if line.startswith("| whole answer")}
    assert rows["fake direct"] == "| whole answer | fake direct | 1.00 | 1.00 |  |  |  |  |"
    assert rows["floor: byte splice"] == "| whole answer | floor: byte splice | 1.10 | 1.10 | +0.10 / +0.10 |  |  |  |"
    assert rows["floor: bare relay"] == "| whole answer | floor: bare relay | 1.40 | 1.40 | +0.40 / +0.40 |  |  |  |"
    assert rows["function OpenAI"] == (
        "| whole answer | function OpenAI | 1.75 | 1.75 | +0.75 / +0.75 | +0.35 |  | -0.25 / -0.25 |"
    )
    # no "before" of its own: no change column, but its share over the bare relay
    assert rows["function OpenAI, not sampled"] == (
        "| whole answer | function OpenAI, not sampled | 1.50 | 1.50 | +0.50 / +0.50 | +0.10 |  |  |"
    )
    assert rows["stand-in OpenAI"] == "| whole answer | stand-in OpenAI | 1.80 | 1.80 |  |  | +0.05 |  |"
    assert rows["before OpenAI"] == "| whole answer | before OpenAI | 2.00 | 2.00 | +1.00 / +1.00 | +0.60 |  |  |"
