"""Server-side chat history on DynamoDB: storage, formats, and the per-turn flow."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway_core.history.store import SessionStore

__all__ = ["history_store"]


def history_store() -> SessionStore:
    """The process's store. pynamodb + botocore cost ~130 ms to import, so they load with the
    first request that uses history, not with every function's cold start."""
    from gateway_core.history.store import get_store

    return get_store()
