#!/bin/bash
# Lambda Web Adapter entry point (Handler: run.sh): the same Starlette app uvicorn serves locally.
# Lambda gives a process the adapter starts only PYTHONPATH=/var/runtime; the sys.path its own
# Python handlers get (code root, then the layers' /opt/python and its site-packages) is set here,
# or uvicorn and gateway_core, which live in the layer, cannot be imported. gateway_core.server is
# uvicorn's httptools protocol sending a response's head with its body (one socket write, not two).
# No `server: uvicorn` header: what serves the API behind API Gateway is not the caller's business.
# No X-Forwarded-* rewriting of the client's address and scheme (--no-proxy-headers): nothing here
# reads either, and uvicorn's middleware for it is one more layer on every request.
export PYTHONPATH="${LAMBDA_TASK_ROOT:-/var/task}:/opt/python/lib/python3.13/site-packages:/opt/python${PYTHONPATH:+:$PYTHONPATH}"
exec python -m uvicorn --port "$PORT" --no-access-log --no-server-header --no-proxy-headers --timeout-keep-alive 60 --http gateway_core.server:HttpProtocol bedrock_runtime.app:app
