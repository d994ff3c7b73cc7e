"""The smoke checks: one real client call per route class, each returning a one-line detail or
raising. They use the SDKs application developers use (openai, boto3) and nothing of ours."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
from botocore import UNSIGNED
from botocore.config import Config
from openai import OpenAI
from openai.types.chat import ChatCompletionMessageParam

__all__ = ["Gateway", "all_checks"]

API_GATEWAY_BUFFERED_LIMIT_S = 29  # what a buffered REST integration would cut a stream at


@dataclass(frozen=True)
class Gateway:
    url: str  # the stage URL, e.g. https://abc.execute-api.us-east-1.amazonaws.com/api
    key: str
    model: str
    prompt_arn: str | None = None
    prompt_variables: dict[str, Any] | None = None

    def openai(self) -> OpenAI:
        return OpenAI(base_url=f"{self.url}/v1", api_key=self.key, max_retries=0, timeout=900)

    def bedrock(self, headers: dict[str, str] | None = None) -> Any:
        """An unmodified bedrock-runtime client; the key rides as a bearer header, as the README
        shows for plain HTTP (botocore's own bearer support requires HTTPS)."""
        client = boto3.client(
            "bedrock-runtime",
            region_name="us-east-1",
            endpoint_url=f"{self.url}/bedrock",
            config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}, read_timeout=900),
        )

        def authorize(request: Any, **_: Any) -> None:
            request.headers["Authorization"] = f"Bearer {self.key}"
            for name, value in (headers or {}).items():
                request.headers[name] = value

        client.meta.events.register("request-created.*", authorize)
        return client

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.key}"}, timeout=60)


Check = Callable[[Gateway], str]
HI: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hello in one word."}]
HI_CONVERSE = [{"role": "user", "content": [{"text": "Say hello in one word."}]}]


def openai_chat(gw: Gateway) -> str:
    reply = gw.openai().chat.completions.create(model=gw.model, messages=HI)
    text = reply.choices[0].message.content or ""
    assert text, "empty answer"
    return f"{len(text)} chars"


def openai_stream(gw: Gateway) -> str:
    stream = gw.openai().chat.completions.create(model=gw.model, messages=HI, stream=True)
    chunks = [c for c in stream if c.choices and c.choices[0].delta.content]
    assert chunks, "no content chunks"
    return f"{len(chunks)} chunks"


def converse(gw: Gateway) -> str:
    reply = gw.bedrock().converse(modelId=gw.model, messages=HI_CONVERSE)
    text = reply["output"]["message"]["content"][0]["text"]
    assert text and reply["stopReason"], reply
    return f"{len(text)} chars, {reply['stopReason']}"


def converse_stream(gw: Gateway) -> str:
    events = list(gw.bedrock().converse_stream(modelId=gw.model, messages=HI_CONVERSE)["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart" and "messageStop" in kinds and kinds[-1] == "metadata", kinds
    return f"{kinds.count('contentBlockDelta')} deltas"


def long_stream(gw: Gateway) -> str:
    """A stream that outlasts API Gateway's buffered 29 s. The fake provider's knobs pace it
    locally (31 chunks, 1 s apart); a real model is asked for a long answer instead."""
    pacing = {"x-fake-chunks": "31", "x-fake-chunk-delay-ms": "1000"}
    ask = [{"role": "user", "content": [{"text": "Write a 4000-word story, one short paragraph at a time."}]}]
    started = time.monotonic()
    stream = gw.bedrock(headers=pacing).converse_stream(modelId=gw.model, messages=ask)["stream"]
    kinds = [next(iter(e)) for e in stream]
    lasted = time.monotonic() - started
    assert kinds[-2:] == ["messageStop", "metadata"], f"cut after {lasted:.0f} s: {kinds[-3:]}"
    assert lasted > API_GATEWAY_BUFFERED_LIMIT_S, f"lasted only {lasted:.0f} s: nothing proven"
    return f"{lasted:.0f} s, complete"


def models_passthrough(gw: Gateway) -> str:
    with gw.http() as http:
        response = http.get("/v1/models")
    assert response.status_code == 200, (response.status_code, response.text[:300])
    ids = [m["id"] for m in response.json()["data"]]
    assert gw.model in ids, f"{gw.model} not in {ids[:10]}"
    return f"{len(ids)} models"


def key_passthrough(gw: Gateway) -> str:
    with gw.http() as http:
        response = http.get("/key/info")
    assert response.status_code == 200, (response.status_code, response.text[:300])
    info = response.json()["info"]
    return f"key spend {info.get('spend', 0)}"


def openai_history(gw: Gateway) -> str:
    client = gw.openai()
    reply = client.chat.completions.create(model=gw.model, messages=HI, extra_body={"enable_history": True})
    session = str((reply.model_extra or {})["session_id"])
    with gw.http() as http:
        page = http.post("/chat-history", json={"session_id": session})
    assert page.status_code == 200, (page.status_code, page.text[:300])
    roles = [m["role"] for m in page.json()["messages"]]
    assert roles == ["user", "assistant"], roles
    return f"session {session[:8]}…, {len(roles)} messages"


def bedrock_history(gw: Gateway) -> str:
    reply = gw.bedrock().converse(
        modelId=gw.model, messages=HI_CONVERSE, additionalModelRequestFields={"enable_history": True}
    )
    session = _session_of(reply)
    with gw.http() as http:
        page = http.post("/bedrock/chat-history", json={"session_id": session})
    assert page.status_code == 200, (page.status_code, page.text[:300])
    roles = [m["role"] for m in page.json()["messages"]]
    assert roles == ["user", "assistant"], roles
    return f"session {session[:8]}…, {len(roles)} messages"


def _session_of(reply: dict[str, Any]) -> str:
    headers = reply["ResponseMetadata"]["HTTPHeaders"]
    assert "x-session-id" in headers, f"no x-session-id in the answer: {sorted(headers)}"
    return str(headers["x-session-id"])


def managed_prompt(gw: Gateway) -> str:
    assert gw.prompt_arn
    variables = gw.prompt_variables or {}
    reply = gw.bedrock().converse(modelId=gw.prompt_arn, promptVariables=variables)
    text = reply["output"]["message"]["content"][0]["text"]
    chat = gw.openai().chat.completions.create(
        model=gw.prompt_arn, messages=[], extra_body={"promptVariables": variables}
    )
    assert text and chat.choices[0].message.content, "empty answer"
    return "converse + chat"


def all_checks(gw: Gateway, long: bool) -> list[tuple[str, Check | None]]:
    """(name, check) per route class; None marks one skipped, with the reason in its name."""
    return [
        ("OpenAI chat", openai_chat),
        ("OpenAI chat stream", openai_stream),
        ("Converse", converse),
        ("ConverseStream", converse_stream),
        ("stream > 29 s" if long else "stream > 29 s (skipped: LONG_STREAM=1)", long_stream if long else None),
        ("/v1/models (passthrough)", models_passthrough),
        ("/key/info (passthrough)", key_passthrough),
        ("history, OpenAI", openai_history),
        ("history, Bedrock", bedrock_history),
        (
            "managed prompt" if gw.prompt_arn else "managed prompt (skipped: PROMPT_ARN)",
            managed_prompt if gw.prompt_arn else None,
        ),
    ]


def describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return json.dumps(text)[1:-1][:160]
