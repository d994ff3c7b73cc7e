"""Hostile input against the real local stack: schema-driven fuzzing of every function route
(hypothesis; Converse bodies generated from botocore's own bedrock-runtime shapes, then broken
at any depth), pathological JSON on every route, and what requests without a valid key cost
the gateway. Every answer must be below 500 and in the route's own error shape.

Bounded: ``FUZZ_EXAMPLES`` per route (derandomized, so a run is repeatable) and
``UNAUTHENTICATED_REQUESTS``; ``HARDENING_EXAMPLES`` / ``HARDENING_UNAUTHENTICATED`` raise them
for a measuring run (the README quotes one with 10,000). Figures are printed with ``[figure]``.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import psutil
import pytest
from botocore.loaders import Loader
from botocore.model import ServiceModel, Shape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.conftest import LocalStack
from tests.integration.okta_issuer import OktaIssuer
from tests.integration.test_openai_interface import new_key

pytestmark = pytest.mark.integration

FUZZ_EXAMPLES = int(os.environ.get("HARDENING_EXAMPLES", "40"))
UNAUTHENTICATED_REQUESTS = int(os.environ.get("HARDENING_UNAUTHENTICATED", "200"))
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
PROMPT_ARN = "arn:aws:bedrock:us-east-1:123456789012:prompt/ABCDEFGHIJ"
sent: Counter[str] = Counter()
statuses_by_route: dict[str, Counter[int]] = {}
server_errors: Counter[str] = Counter()


# -- the checks -----------------------------------------------------------------------------------


def bedrock_shaped(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code >= 400:
        assert response.headers.get("x-amzn-ErrorType"), response.headers
        assert isinstance(response.json()["message"], str)


def openai_shaped(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code >= 400:
        error = response.json()["error"]
        assert isinstance(error, dict) and isinstance(error["message"], str), response.text[:500]


def send(client: httpx.Client, route: str, method: str, path: str, content: bytes, key: str | None) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    response = client.request(method, path, content=content, headers=headers)
    sent[route] += 1
    statuses_by_route.setdefault(route, Counter())[response.status_code] += 1
    if response.status_code >= 500:
        server_errors[route] += 1
    return response


# -- strategies ------------------------------------------------------------------------------------

GARBAGE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=6), st.integers(), max_size=2),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats(-1e6, 1e6) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
NAMES = st.text("abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=12)


def _valid(shape: Shape, depth: int) -> st.SearchStrategy[Any]:
    kind = shape.type_name
    if kind == "structure" and getattr(shape, "is_document_type", False):
        return JSON_VALUES
    if kind == "structure":
        members = shape.members
        if depth > 5:
            return st.just({})
        if shape.is_tagged_union:
            return st.one_of([st.fixed_dictionaries({n: from_shape(m, depth + 1)}) for n, m in members.items()])
        required = shape.metadata.get("required", [])
        return st.fixed_dictionaries(
            {n: from_shape(members[n], depth + 1) for n in required},
            optional={n: from_shape(m, depth + 1) for n, m in members.items() if n not in required},
        )
    if kind == "list":
        return st.lists(from_shape(shape.member, depth + 1), min_size=0 if depth > 4 else 1, max_size=2)
    if kind == "map":
        return st.dictionaries(NAMES, from_shape(shape.value, depth + 1), max_size=2)
    if kind == "string":
        return st.sampled_from(shape.enum) if shape.enum else NAMES
    if kind in {"integer", "long"}:
        return st.integers(shape.metadata.get("min", 0), shape.metadata.get("max", 4096))
    if kind in {"float", "double"}:
        return st.floats(shape.metadata.get("min", 0), shape.metadata.get("max", 1))
    if kind == "boolean":
        return st.booleans()
    if kind == "blob":
        return st.sampled_from(["aGk=", "iVBORw0KGgo=", "not base64!"])
    return GARBAGE


def sometimes_wrong(valid: st.SearchStrategy[Any], odds: int = 8) -> st.SearchStrategy[Any]:
    """``valid``, or one time in ``odds`` something else: most bodies break in one place or two,
    so they get past the first check and into the deeper ones, and some are wholly valid."""
    return st.integers(1, odds).flatmap(lambda n: GARBAGE if n == odds else valid)  # shrinks to valid


def from_shape(shape: Shape, depth: int = 0) -> st.SearchStrategy[Any]:
    """A value of ``shape``, or (at any depth; a Converse body has dozens of nodes) something that is not."""
    return sometimes_wrong(_valid(shape, depth), odds=30)


def converse_shape(operation: str) -> Shape:
    model = ServiceModel(Loader().load_service_model("bedrock-runtime", "service-2"), "bedrock-runtime")
    return model.operation_model(operation).input_shape


def converse_bodies(operation: str) -> st.SearchStrategy[dict[str, Any]]:
    shape = converse_shape(operation)
    members = {n: m for n, m in shape.members.items() if n not in {"modelId", "promptVariables"}}
    return st.fixed_dictionaries(
        {"messages": from_shape(members.pop("messages"))},
        optional={n: from_shape(m) for n, m in members.items()},
    )


PATHOLOGICAL = [
    b"[" * 50_000 + b"]" * 50_000,
    b'{"messages": ' + b"[" * 200 + b"]" * 200 + b"}",
    b'{"limit": ' + b"9" * 5000 + b"}",
    b'{"model": "fake-gpt", "temperature": NaN, "messages": []}',
    b'{"session_id": "\\ud800", "messages": [{"role": "user", "content": "x"}]}',
    b'{"a": 1e99999}',
    b"\xff\xfe\x00",
    b"not json at all",
    b"[]",
    b'"a string"',
]


# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(stack: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.gateway_url, timeout=60) as http:
        yield http


@pytest.fixture(scope="module")
def user_key(stack: LocalStack) -> str:
    return new_key(stack, user_id=f"fuzzer-{uuid.uuid4().hex[:8]}", models=["fake-gpt"])


@pytest.fixture(scope="module")
def session_id(client: httpx.Client, user_key: str) -> str:
    body = {"model": "fake-gpt", "messages": [{"role": "user", "content": "hi"}], "enable_history": True}
    response = client.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {user_key}"})
    assert response.status_code == 200, response.text
    return str(response.json()["session_id"])


# -- fuzzing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["Converse", "ConverseStream"])
def test_converse_routes_fuzzed_from_botocores_shapes(client: httpx.Client, user_key: str, operation: str) -> None:
    path = "/bedrock/model/fake-gpt/" + ("converse-stream" if operation == "ConverseStream" else "converse")

    @FUZZ
    @given(body=converse_bodies(operation))
    def run(body: dict[str, Any]) -> None:
        bedrock_shaped(send(client, path, "POST", path, json.dumps(body).encode(), user_key))

    run()


def _openai_bodies(session: str) -> st.SearchStrategy[dict[str, Any]]:
    message = st.fixed_dictionaries(
        {
            "role": sometimes_wrong(st.sampled_from(["user", "system", "assistant"])),
            "content": sometimes_wrong(st.text(max_size=20)),
        }
    )
    return st.fixed_dictionaries(
        {"model": sometimes_wrong(st.sampled_from(["fake-gpt", PROMPT_ARN, "no-such-model"]))},
        optional={
            "messages": sometimes_wrong(st.lists(message, min_size=1, max_size=3)),
            "stream": sometimes_wrong(st.booleans()),
            "stream_options": sometimes_wrong(st.fixed_dictionaries({"include_usage": st.booleans()})),
            "enable_history": sometimes_wrong(st.booleans()),
            "session_id": sometimes_wrong(st.sampled_from([session, "missing"])),
            "promptVariables": sometimes_wrong(
                st.dictionaries(NAMES, st.fixed_dictionaries({"text": st.text(max_size=5)}))
            ),
            "max_tokens": sometimes_wrong(st.integers(1, 50)),
        },
    )


def test_openai_route_fuzzed_on_the_fields_it_reads(client: httpx.Client, user_key: str, session_id: str) -> None:
    @FUZZ
    @given(body=_openai_bodies(session_id))
    def run(body: dict[str, Any]) -> None:
        response = send(
            client, "/v1/chat/completions", "POST", "/v1/chat/completions", json.dumps(body).encode(), user_key
        )
        openai_shaped(response)

    run()


@pytest.mark.parametrize("path", ["/chat-history", "/bedrock/chat-history", "/session-ids"])
def test_history_routes_fuzzed(client: httpx.Client, user_key: str, session_id: str, path: str) -> None:
    bodies = st.fixed_dictionaries(
        {},
        optional={
            "session_id": sometimes_wrong(st.sampled_from([session_id, "missing"])),
            "limit": sometimes_wrong(st.integers(1, 50)),
            "next_token": sometimes_wrong(st.text(max_size=40)),
        },
    )
    check = bedrock_shaped if path.startswith("/bedrock/") else openai_shaped

    @FUZZ
    @given(body=bodies)
    def run(body: dict[str, Any]) -> None:
        check(send(client, path, "POST", path, json.dumps(body).encode(), user_key))

    run()


def test_delete_fuzzed_on_its_path(client: httpx.Client, user_key: str) -> None:
    @FUZZ
    @given(segment=st.text(min_size=1, max_size=30))
    def run(segment: str) -> None:
        path = "/chat-history/" + quote(segment, safe="")
        openai_shaped(send(client, "DELETE /chat-history/{id}", "DELETE", path, b"", user_key))

    run()


KEY_FIELDS = ["user_id", "team_id", "key_alias", "duration", "models", "metadata", "max_budget", "rpm_limit"]


def test_key_generate_fuzzed_for_a_non_admin(client: httpx.Client, user_key: str) -> None:
    bodies = st.dictionaries(
        st.sampled_from([*KEY_FIELDS, "spend", "key", "blocked", "zzz"]), GARBAGE | JSON_VALUES, max_size=4
    )

    @FUZZ
    @given(body=bodies)
    def run(body: dict[str, Any]) -> None:
        openai_shaped(send(client, "/key/generate", "POST", "/key/generate", json.dumps(body).encode(), user_key))

    run()


def test_user_new_fuzzed_with_an_okta_token(client: httpx.Client, okta: OktaIssuer) -> None:
    token = okta.token(f"okta-fuzz-{uuid.uuid4().hex[:8]}")
    bodies = st.dictionaries(
        st.sampled_from(["user_alias", "key_alias", "metadata", "duration", "user_id", "max_budget", "zzz"]),
        GARBAGE,
        max_size=3,
    )

    @FUZZ
    @given(body=bodies)
    def run(body: dict[str, Any]) -> None:
        openai_shaped(send(client, "/user/new", "POST", "/user/new", json.dumps(body).encode(), token))

    run()


ROUTES: list[tuple[str, str, Callable[[httpx.Response], None]]] = [
    ("POST", "/bedrock/model/fake-gpt/converse", bedrock_shaped),
    ("POST", "/bedrock/model/fake-gpt/converse-stream", bedrock_shaped),
    ("POST", "/v1/chat/completions", openai_shaped),
    ("POST", "/chat/completions", openai_shaped),
    ("POST", "/chat-history", openai_shaped),
    ("POST", "/bedrock/chat-history", bedrock_shaped),
    ("POST", "/session-ids", openai_shaped),
    ("POST", "/key/generate", openai_shaped),
    ("POST", "/user/new", openai_shaped),
]


@pytest.mark.parametrize(("method", "path", "check"), ROUTES)
def test_pathological_json_is_a_400_on_every_route(
    client: httpx.Client, user_key: str, method: str, path: str, check: Callable[[httpx.Response], None]
) -> None:
    for raw in PATHOLOGICAL:
        response = send(client, path, method, path, raw, user_key)
        check(response)
        assert response.status_code == 400, (raw[:40], response.text[:300])


@pytest.mark.parametrize(("method", "path", "check"), ROUTES)
def test_a_body_past_ten_megabytes_is_a_413_on_every_route(
    client: httpx.Client, user_key: str, method: str, path: str, check: Callable[[httpx.Response], None]
) -> None:
    response = send(client, path, method, path, b'{"x": "' + b"a" * (10 * 1024 * 1024) + b'"}', user_key)
    check(response)
    assert response.status_code == 413


def test_a_body_past_ten_megabytes_is_api_gateways_413_on_the_passthrough(client: httpx.Client) -> None:
    response = client.post("/v1/embeddings", content=b"x" * (10 * 1024 * 1024 + 1))
    assert (response.status_code, response.json()) == (413, {"message": "Request Too Long"})


def test_fuzzing_figures() -> None:
    """Runs last in this module: what was sent, and how many answers were 5xx (0)."""
    for route, count in sorted(sent.items()):
        statuses = dict(sorted(statuses_by_route[route].items()))
        print(f"[figure] fuzzed {route}: {count} requests, {server_errors[route]} x 5xx (by status: {statuses})")
    assert sum(server_errors.values()) == 0


# -- what requests without a valid key cost -------------------------------------------------------


def _gateway(stack: LocalStack) -> psutil.Process:
    port = int(stack.gateway_url.rsplit(":", 1)[1])
    for process in psutil.process_iter(["cmdline"]):
        if "local.gateway" in " ".join(process.info["cmdline"] or []):
            try:
                if any(c.laddr.port == port and c.status == "LISTEN" for c in process.net_connections("tcp")):
                    return process
            except psutil.Error:
                continue
    raise AssertionError(f"no gateway process serving port {port}")


def _unauthenticated(client: httpx.Client, index: int) -> httpx.Response:
    """No key, or a made-up one, on the routes that would fetch a prompt (in a new region each
    time) or read history."""
    key = None if index % 2 == 0 else f"sk-made-up-{index}"
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    region = f"eu-fake-{index % 997}"
    arn = f"arn:aws:bedrock:{region}:123456789012:prompt/ABCDEFGHIJ"
    kind = index % 4
    if kind == 0:
        return client.post(
            f"/bedrock/model/{quote(arn, safe='')}/converse",
            json={"messages": [{"role": "user", "content": [{"text": "x"}]}]},
            headers=headers,
        )
    if kind == 1:
        body = {"model": arn, "messages": [{"role": "user", "content": "x"}], "promptVariables": {}}
        return client.post("/v1/chat/completions", json=body, headers=headers)
    if kind == 2:
        return client.post("/chat-history", json={"session_id": f"s-{index}"}, headers=headers)
    return client.post("/session-ids", json={}, headers=headers)


def test_requests_without_a_valid_key_cost_the_gateway_nothing(stack: LocalStack, client: httpx.Client) -> None:
    gateway = _gateway(stack)
    for index in range(100):  # warm: every route's code and pools in place
        assert _unauthenticated(client, index).status_code in {401, 403}
    rss, sockets = gateway.memory_info().rss, len(gateway.net_connections("all"))
    statuses: Counter[int] = Counter()
    for index in range(UNAUTHENTICATED_REQUESTS):
        statuses[_unauthenticated(client, index).status_code] += 1
    grown_mb = (gateway.memory_info().rss - rss) / 1e6
    more_sockets = len(gateway.net_connections("all")) - sockets
    print(
        f"[figure] {UNAUTHENTICATED_REQUESTS} requests without a valid key: {dict(statuses)}; "
        f"gateway RSS {rss / 1e6:.1f} MB -> {gateway.memory_info().rss / 1e6:.1f} MB ({grown_mb:+.1f} MB), "
        f"sockets {sockets} -> {sockets + more_sockets}"
    )
    assert set(statuses) <= {401, 403}
    assert grown_mb < 8 and more_sockets <= 2


def test_a_valid_key_naming_other_regions_builds_no_clients(
    stack: LocalStack, client: httpx.Client, user_key: str
) -> None:
    gateway = _gateway(stack)
    sockets = len(gateway.net_connections("all"))
    for index in range(50):
        arn = f"arn:aws:bedrock:eu-fake-{index}:123456789012:prompt/ABCDEFGHIJ"
        response = client.post(
            f"/bedrock/model/{quote(arn, safe='')}/converse",
            json={"messages": [{"role": "user", "content": [{"text": "x"}]}]},
            headers={"Authorization": f"Bearer {user_key}"},
        )
        assert (response.status_code, response.headers["x-amzn-ErrorType"]) == (403, "AccessDeniedException")
        assert f"Prompts in region eu-fake-{index} are not served by this gateway" in response.json()["message"]
    assert len(gateway.net_connections("all")) - sockets <= 2
