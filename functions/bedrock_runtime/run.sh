#!/bin/bash
# Lambda Web Adapter entry point (Handler: run.sh): the same FastAPI app uvicorn serves locally.
# The shared layer's packages sit in /opt/python, which the runtime puts on PYTHONPATH.
exec python -m uvicorn --port "$PORT" --no-access-log --timeout-keep-alive 60 bedrock_runtime.app:app
