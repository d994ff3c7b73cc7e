"""bedrock-agent GetPrompt (``GET /prompts/{promptIdentifier}/``), answered from a prompts file.

moto has no Prompt management, so the local stack points boto3 here with
``AWS_ENDPOINT_URL_BEDROCK_AGENT``; the gateway's real boto3 code path runs unchanged.
``FAKE_PROMPTS_FILE`` (default: prompts.json beside this module) holds the prompts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from starlette.responses import JSONResponse

router = APIRouter()

_DEFAULT_FILE = Path(__file__).with_name("prompts.json")
_TIMESTAMP = "2026-01-01T00:00:00Z"


def _prompts() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(os.environ.get("FAKE_PROMPTS_FILE", _DEFAULT_FILE)).read_text())
    return data


def _not_found(message: str) -> JSONResponse:
    return JSONResponse({"message": message}, 404, headers={"x-amzn-ErrorType": "ResourceNotFoundException"})


@router.get("/prompts/{identifier:path}/")
async def get_prompt(identifier: str, promptVersion: str | None = None) -> JSONResponse:  # noqa: N803 (AWS's name)
    prompt_id = identifier.rsplit("/", 1)[-1]  # an id, or an ARN ending in prompt/<id>
    prompt = _prompts().get(prompt_id)
    version = promptVersion or "DRAFT"
    if not isinstance(prompt, dict) or version not in prompt["versions"]:
        return _not_found(f"Prompt {identifier} version {version} not found")
    variant = {"name": "default", **prompt["versions"][version]}
    arn = f"arn:aws:bedrock:us-east-1:123456789012:prompt/{prompt_id}"
    body = {
        "name": prompt["name"],
        "id": prompt_id,
        "arn": arn if version == "DRAFT" else f"{arn}:{version}",
        "version": version,
        "defaultVariant": "default",
        "variants": [variant],
        "createdAt": _TIMESTAMP,
        "updatedAt": _TIMESTAMP,
    }
    return JSONResponse(body)
