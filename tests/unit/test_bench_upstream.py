"""bench/upstream.py and its targets: the upstream middleware runs as its image runs it, pointed at
the bench's LiteLLM or not at all, and only real answers count."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gateway_core.eventstream import encode_event

from bench.__main__ import _latency_section
from bench.latency import answer_text, targets
from bench.upstream import UpstreamSetupError, configured, container_argv, pointed_at, psycopg2_url

# Shaped like the lines of their app.py the bench depends on (not their code).
APP = 'import os\n\nLITELLM_ENDPOINT = "http://localhost:4000"\nCHAT = f"{LITELLM_ENDPOINT}/v1/chat/completions"\n'
DOCKERFILE = 'FROM python:3.11-slim\nWORKDIR /app\nCMD ["uvicorn", "app:app", "--host", "0.0.0.0", "--port", "3000"]\n'


def test_the_endpoint_constant_and_nothing_else_is_rewritten() -> None:
    assert pointed_at(APP, "http://127.0.0.1:41234") == APP.replace("http://localhost:4000", "http://127.0.0.1:41234")


@pytest.mark.parametrize(
    "source",
    [
        APP.replace("LITELLM_ENDPOINT = ", "LITELLM_ENDPOINT=os.environ.get('X') or "),  # read some other way
        APP.replace("LITELLM_ENDPOINT", "LITELLM_URL"),  # renamed
        APP + 'LITELLM_ENDPOINT = "http://localhost:4001"\n',  # twice: which one counts is unknown
    ],
)
def test_an_app_whose_endpoint_cannot_be_found_exactly_once_fails_loudly(source: str) -> None:
    with pytest.raises(UpstreamSetupError, match="LITELLM_ENDPOINT"):
        pointed_at(source, "http://127.0.0.1:41234")


def test_it_runs_the_dockerfiles_command_on_loopback_and_a_free_port() -> None:
    assert container_argv(DOCKERFILE, "/v/bin/python", 5123) == [
        "/v/bin/python",
        "-m",
        "uvicorn",
        "app:app",
        "--host",
        "127.0.0.1",
        "--port",
        "5123",
    ]


@pytest.mark.parametrize(
    "dockerfile",
    [
        "FROM python:3.11-slim\n",
        'CMD ["gunicorn", "app:app", "--port", "3000"]\n',
        'CMD ["uvicorn", "app:app"]\n',
        'CMD ["uvicorn", "app:app", "--port"]\n',
    ],
)
def test_a_command_that_is_not_uvicorn_on_a_port_fails_loudly(dockerfile: str) -> None:
    with pytest.raises(UpstreamSetupError, match="CMD"):
        container_argv(dockerfile, "/v/bin/python", 5123)


def test_the_database_url_names_the_driver_their_requirements_install() -> None:
    assert psycopg2_url("postgresql://postgres@127.0.0.1:5432/litellm") == (
        "postgresql+psycopg2://postgres@127.0.0.1:5432/litellm"
    )
    with pytest.raises(UpstreamSetupError):
        psycopg2_url("mysql://u@h/db")


def _checkout(tmp_path: Path) -> Path:
    for name, text in (("app.py", APP), ("requirements.txt", "fastapi\n"), ("Dockerfile", DOCKERFILE)):
        (tmp_path / name).write_text(text)
    return tmp_path


def test_unset_means_not_measured_and_a_wrong_setting_stops_the_bench(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert configured({}) is None
    assert configured({"BENCH_UPSTREAM_MIDDLEWARE": ""}) is None
    with pytest.raises(UpstreamSetupError, match="no app.py, requirements.txt, Dockerfile there"):
        configured({"BENCH_UPSTREAM_MIDDLEWARE": str(tmp_path)})
    folder = _checkout(tmp_path)
    with pytest.raises(UpstreamSetupError, match=r"no Python at .*/\.venv/bin/python: create a venv"):
        configured({"BENCH_UPSTREAM_MIDDLEWARE": str(folder)})
    (tmp_path / "base-python").write_text("")
    python = tmp_path / "venv-python"
    python.symlink_to(tmp_path / "base-python")  # as in a venv
    monkeypatch.chdir(tmp_path)
    assert configured({"BENCH_UPSTREAM_MIDDLEWARE": ".", "BENCH_UPSTREAM_VENV": "venv-python"}) == (
        folder.resolve(),
        python,  # absolute, the venv's own: started from a scratch folder
    )


def test_their_routes_sit_beside_ours_in_the_same_rounds() -> None:
    plain = targets("http://f", "http://l", "http://g", "k")
    both = targets("http://f", "http://l", "http://g", "k", upstream="http://u")
    assert both[: len(plain)] == plain
    assert [(t.name, t.url, t.headers) for t in both[len(plain) :]] == [
        ("upstream middleware OpenAI", "http://u/v1/chat/completions", plain[2].headers),
        ("upstream middleware Converse", "http://u/bedrock/model/fake-gpt/converse", plain[2].headers),
    ]
    streams = targets("http://f", "http://l", "http://g", "k", stream=True, upstream="http://u")
    assert [t.name for t in streams] == [
        "LiteLLM",
        "gateway OpenAI",
        "gateway OpenAI, not sampled",
        "gateway ConverseStream",
        "upstream middleware OpenAI",
        "upstream middleware ConverseStream",
    ]
    assert streams[-1].url == "http://u/bedrock/model/fake-gpt/converse-stream" and streams[-2].body["stream"] is True
    # the same route, with the trace header Lambda sends for a request it does not sample
    unsampled = next(t for t in plain if t.name == "gateway OpenAI, not sampled")
    assert (unsampled.url, unsampled.headers["X-Amzn-Trace-Id"].rsplit(";", 1)[1]) == (plain[2].url, "Sampled=0")


def test_an_answer_is_the_assistants_text_in_each_routes_format() -> None:
    chat = {"choices": [{"message": {"role": "assistant", "content": "Hello there"}}]}
    assert answer_text("application/json", json.dumps(chat).encode()) == "Hello there"
    converse = {"output": {"message": {"role": "assistant", "content": [{"text": "Hello"}, {"text": " there"}]}}}
    assert answer_text("application/json", json.dumps(converse).encode()) == "Hello there"
    sse = b'data: {"choices":[{"delta":{"role":"assistant","content":""}}]}\n\n'
    sse += b'data: {"choices":[{"delta":{"content":"Hel"}}]}\n\ndata: {"choices":[{"delta":{"content":"lo"}}]}\n\n'
    sse += b'data: {"choices":[],"usage":{}}\n\ndata: [DONE]\n\n'
    assert answer_text("text/event-stream; charset=utf-8", sse) == "Hello"
    frames = encode_event("messageStart", {"role": "assistant"})
    frames += encode_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hel"}})
    frames += encode_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "lo"}})
    assert answer_text("application/vnd.amazon.eventstream", frames) == "Hello"


def test_an_error_in_a_200_is_no_answer() -> None:
    # Their OpenAI route answers LiteLLM's errors with 200 and LiteLLM's error body.
    error = {"error": {"message": "Authentication Error", "code": "401"}}
    assert answer_text("application/json", json.dumps(error).encode()) == ""
    assert answer_text("application/vnd.amazon.eventstream", encode_event("messageStart", {"role": "x"})) == ""


def test_their_rows_are_over_litellm_and_against_ours_on_the_same_route() -> None:
    runs = {
        "LiteLLM": [10.0, 10.0, 10.0],
        "gateway OpenAI": [11.0, 11.0, 11.0],
        "gateway Converse": [12.0, 12.0, 12.0],
        "upstream middleware OpenAI": [14.0, 14.0, 14.0],
        "upstream middleware Converse": [11.5, 11.5, 11.5],
    }
    cpu = {"upstream middleware OpenAI": 2.5, "gateway OpenAI": 1.25}
    lines, _ = _latency_section("t", runs, cpu, paired=False)  # as section 1b (c=16) has them
    assert lines[4:] == [
        "| LiteLLM | 10.00 | 10.00 | 10.00 |  |",
        "| gateway OpenAI | 11.00 | 11.00 | 11.00 | over LiteLLM: p50 +1.00, p99 +1.00; gateway CPU 1.25 ms/request |",
        "| gateway Converse | 12.00 | 12.00 | 12.00 | over LiteLLM: p50 +2.00, p99 +2.00 |",
        "| upstream middleware OpenAI | 14.00 | 14.00 | 14.00 | over LiteLLM: p50 +4.00, p99 +4.00;"
        " middleware CPU 2.50 ms/request; gateway minus it: p50 -3.00, p99 -3.00 |",
        "| upstream middleware Converse | 11.50 | 11.50 | 11.50 | over LiteLLM: p50 +1.50, p99 +1.50;"
        " gateway minus it: p50 +0.50, p99 +0.50 |",
        "",
    ]
