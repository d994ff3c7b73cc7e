"""The fake provider's ASGI app."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.responses import JSONResponse

from fake_provider import bedrock_api, openai_api, prompts_api


def create_app() -> FastAPI:
    app = FastAPI(title="fake-provider", openapi_url=None, docs_url=None, redoc_url=None)
    app.include_router(openai_api.router)
    app.include_router(bedrock_api.router)
    app.include_router(prompts_api.router)

    @app.get("/")
    @app.get("/health")
    async def health() -> JSONResponse:
        return JSONResponse({"status": "healthy"})

    return app


app = create_app()
