"""Non-admin /key/generate: only listed fields, each of its type; privileged ones are a 403."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from gateway_core import identity
from gateway_core.http import LiteLLMClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient
from user_keys.app import create_app

from tests.unit.asgi_transport import AsgiTransport


class LiteLLM:
    def __init__(self) -> None:
        self.generated: list[dict[str, Any]] = []

    async def key_info(self, _: Request) -> Response:
        return JSONResponse({"key": "hash", "info": {"user_id": "ann"}})

    async def generate(self, request: Request) -> Response:
        self.generated.append(json.loads(await request.body()))
        return JSONResponse({"key": "sk-new", "user_id": "ann"})


@pytest.fixture
def service() -> Iterator[tuple[TestClient, LiteLLM]]:
    litellm = LiteLLM()
    upstream = Starlette(
        routes=[
            Route("/key/info", litellm.key_info, methods=["GET"]),
            Route("/key/generate", litellm.generate, methods=["POST"]),
        ]
    )
    identity._cache.clear()
    yield TestClient(create_app(litellm=LiteLLMClient(AsgiTransport(upstream)))), litellm
    identity._cache.clear()


def generate(client: TestClient, body: Any) -> Any:
    return client.post("/key/generate", content=json.dumps(body), headers={"Authorization": "Bearer sk-ann"})


@pytest.mark.parametrize(
    ("body", "status", "param", "message"),
    [
        ({"spend": -100}, 403, "spend", "Only an admin may set spend on a key"),
        ({"key": "sk-chosen", "key_alias": "x"}, 403, "key", "Only an admin may set key on a key"),
        (
            {"allowed_routes": ["/"], "blocked": False},
            403,
            "allowed_routes",
            "Only an admin may set allowed_routes, blocked on a key",
        ),
        (
            {"key_alias": "x", "zzz": 1, "aaa": 2},
            400,
            "aaa",
            "Unsupported fields: aaa, zzz (allowed: user_id, team_id, key_alias, duration, models, tags, metadata,"
            " max_budget, budget_duration, tpm_limit, rpm_limit, max_parallel_requests)",
        ),
        ({"key_alias": 5}, 400, "key_alias", "key_alias must be a string or null"),
        ({"models": "fake-gpt"}, 400, "models", "models must be a list of strings"),
        ({"max_budget": "lots"}, 400, "max_budget", "max_budget must be a non-negative number or null"),
        ({"rpm_limit": True}, 400, "rpm_limit", "rpm_limit must be a non-negative integer or null"),
        ({"metadata": []}, 400, "metadata", "metadata must be an object"),
        ({"user_id": 7}, 400, "user_id", "user_id must be a string"),
    ],
)
def test_refused_fields_are_named(
    service: tuple[TestClient, LiteLLM], body: dict[str, Any], status: int, param: str, message: str
) -> None:
    client, litellm = service
    response = generate(client, body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["param"], error["message"]) == (param, message)
    assert litellm.generated == []


def test_allowed_fields_reach_litellm_with_the_callers_user(service: tuple[TestClient, LiteLLM]) -> None:
    client, litellm = service
    body = {"key_alias": "laptop", "duration": "30d", "models": ["fake-gpt"], "max_budget": 1.5, "rpm_limit": 10}
    assert generate(client, body).status_code == 200
    assert litellm.generated == [{**body, "user_id": "ann"}]


def test_zero_budget_and_zero_limits_are_allowed(service: tuple[TestClient, LiteLLM]) -> None:
    client, litellm = service
    body = {"max_budget": 0, "tpm_limit": 0, "rpm_limit": 0, "max_parallel_requests": 0}
    assert generate(client, body).status_code == 200
    assert litellm.generated == [{**body, "user_id": "ann"}]


def test_null_texts_are_allowed(service: tuple[TestClient, LiteLLM]) -> None:
    client, litellm = service
    body = {"key_alias": None, "duration": None, "budget_duration": None}
    assert generate(client, body).status_code == 200
    assert litellm.generated == [{**body, "user_id": "ann"}]


def test_a_blank_body_mints_a_key_for_the_caller(service: tuple[TestClient, LiteLLM]) -> None:
    client, litellm = service
    response = client.post("/key/generate", content=b" ", headers={"Authorization": "Bearer sk-ann"})
    assert response.status_code == 200 and litellm.generated == [{"user_id": "ann"}]
    # LiteLLM's answer is relayed whole, with its length (not re-chunked as a stream)
    assert response.headers["content-length"] == str(len(response.content))
