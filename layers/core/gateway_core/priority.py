"""Request priority rules: lower is more urgent, 0 to 255 (the range of LiteLLM's scheduler).

A key's priority is set by an admin in its LiteLLM metadata (``{"priority": n}``) or in its
team's; the key's own wins over its team's, and a key with neither gets ``DEFAULT_PRIORITY``.
A caller may ask for a priority per request (OpenAI: body ``priority``; Bedrock:
``additionalModelRequestFields.priority``), which can only make it *less* urgent than its key's;
only the master key's requests take the priority they ask for.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from gateway_core.errors import InvalidRequestError

__all__ = [
    "DEFAULT_PRIORITY",
    "HIGHEST_PRIORITY",
    "LOWEST_PRIORITY",
    "PRIORITY_HEADER",
    "effective_priority",
    "metadata_priority",
    "requested_priority",
]

log = logging.getLogger("gateway")

HIGHEST_PRIORITY = 0
LOWEST_PRIORITY = 255
DEFAULT_PRIORITY = 128  # keys without one: admins can place keys on either side of it
PRIORITY_HEADER = "x-gateway-priority"  # the priority a request was queued at (gated models)


def _is_priority(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and HIGHEST_PRIORITY <= value <= LOWEST_PRIORITY


def requested_priority(container: Mapping[str, Any], param: str = "priority") -> int | None:
    """The priority a request asks for in ``container["priority"]``, None if it asks for none.

    Anything but a whole number from 0 to 255 is a 400 naming ``param``."""
    value = container.get("priority")
    if value is None:
        return None
    if not _is_priority(value):
        raise InvalidRequestError(
            f"'{param}' must be an integer from {HIGHEST_PRIORITY} (most urgent) to {LOWEST_PRIORITY}",
            param=param,
        )
    assert isinstance(value, int)
    return value


def metadata_priority(metadata: object, owner: str) -> int | None:
    """The priority an admin set in a key's or team's LiteLLM metadata; other metadata is ignored,
    and so is an invalid priority (logged: it is the admin's mistake, not the caller's)."""
    if not isinstance(metadata, dict) or "priority" not in metadata:
        return None
    value = metadata["priority"]
    if _is_priority(value):
        assert isinstance(value, int)
        return value
    log.warning("ignoring invalid priority %r in the metadata of %s", value, owner)
    return None


def effective_priority(*, granted: int | None, requested: int | None, is_admin: bool) -> int:
    """The priority a request is queued at: the key's (``granted``), or a less urgent one it asked for."""
    if is_admin:
        return requested if requested is not None else DEFAULT_PRIORITY
    floor = granted if granted is not None else DEFAULT_PRIORITY
    return floor if requested is None else max(floor, requested)
