"""Code shared by every gateway function, shipped as one Lambda layer.

Modules import from their own path (``from gateway_core.errors import ...``), starlette style.
Nothing here does I/O at import time, and nothing imports litellm.
"""
