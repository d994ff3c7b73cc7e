"""A function's own routes are called straight from its app (``FunctionApp``), not through
Starlette's stack, and answer exactly as that stack would: errors in the interface's shape, a bug of
ours a 500 that the server also sees, a failure after the answer started never answered twice;
anything that is not one of its routes (a wrong method, an unknown path, /health) still takes
Starlette's way."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from gateway_core.app_support import FunctionApp, function_app
from gateway_core.errors import InvalidRequestError
from gateway_core.openai_errors import openai_error_handlers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.unit.fake_litellm import FakeLiteLLM


async def echo(request: Request) -> Response:
    body = json.loads(await request.body())
    return JSONResponse({"path_params": request.path_params, "body": body, "route": request.scope["route"].path})


async def refuses(_: Request) -> Response:
    raise InvalidRequestError("'stream' must be a boolean", param="stream")


async def breaks(_: Request) -> Response:
    raise RuntimeError("secret internal detail")


async def breaks_mid_stream(_: Request) -> Response:
    async def events() -> AsyncIterator[bytes]:
        yield b"data: one\n\n"
        raise RuntimeError("cut")

    return StreamingResponse(events(), media_type="text/event-stream")


def _app() -> FunctionApp:
    routes = [
        Route("/v1/echo/{name:path}/x", echo, methods=["POST"]),
        Route("/v1/refuses", refuses, methods=["POST"]),
        Route("/v1/breaks", breaks, methods=["POST"]),
        Route("/v1/breaks-mid-stream", breaks_mid_stream, methods=["POST"]),
    ]
    return function_app(routes, openai_error_handlers(), litellm=FakeLiteLLM().client())


def test_a_route_is_called_straight_with_its_path_params_and_route() -> None:
    app = _app()
    response = TestClient(app).post("/v1/echo/a/b%2Fc/x", json={"q": 1})
    assert response.status_code == 200
    assert response.json() == {"path_params": {"name": "a/b/c"}, "body": {"q": 1}, "route": "/v1/echo/{name:path}/x"}
    # what the access log and metrics add to every answer, on this path too
    assert float(response.headers["x-gateway-overhead-ms"]) >= 0
    assert len(response.headers["x-gateway-request-id"]) == 32
    # Starlette's stack was never needed (it is built on the first request that takes it)
    assert app.middleware_stack is None


def test_an_error_of_the_interface_is_answered_in_its_shape() -> None:
    response = TestClient(_app()).post("/v1/refuses", json={})
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": "'stream' must be a boolean",
            "type": "invalid_request_error",
            "param": "stream",
            "code": "invalid_request",
        }
    }


def test_a_bug_of_ours_is_a_500_in_the_interface_shape_and_reaches_the_server(
    caplog: pytest.LogCaptureFixture,
) -> None:
    response = TestClient(_app(), raise_server_exceptions=False).post("/v1/breaks", json={})
    assert response.status_code == 500
    assert response.json() == {
        "error": {"message": "Internal gateway error", "type": "api_error", "param": None, "code": "internal_error"}
    }
    [record] = [r for r in caplog.records if r.name == "gateway" and r.levelname == "ERROR"]
    assert record.getMessage() == "unhandled error"
    # raised on after the answer, as Starlette's error middleware does: the server logs it too
    with pytest.raises(RuntimeError, match="secret internal detail"):
        TestClient(_app()).post("/v1/breaks", json={})


def test_a_failure_after_the_answer_started_is_not_answered_twice(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(RuntimeError, match="cut"):
        TestClient(_app()).post("/v1/breaks-mid-stream", json={})
    assert not [r for r in caplog.records if r.name == "gateway" and r.getMessage() == "unhandled error"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/v1/refuses", 405), ("POST", "/v1/unknown", 404), ("GET", "/health", 200)],
)
def test_what_is_not_a_route_of_the_function_takes_starlettes_way(method: str, path: str, status: int) -> None:
    app = _app()
    response = TestClient(app).request(method, path)
    assert response.status_code == status
    assert "x-gateway-request-id" in response.headers  # still logged and metered
    assert app.middleware_stack is not None


def test_the_body_limit_holds_on_the_direct_path() -> None:
    from gateway_core.body_limit import MAX_BODY_BYTES

    response = TestClient(_app()).post(
        "/v1/echo/a/x", content=b"{}", headers={"content-length": str(MAX_BODY_BYTES + 1)}
    )
    assert response.status_code == 413
    error: dict[str, Any] = response.json()["error"]
    assert (error["code"], error["message"]) == (
        "request_too_large",
        f"Request body is larger than {MAX_BODY_BYTES} bytes, the gateway's limit",
    )
