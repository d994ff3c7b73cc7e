"""``next_token``: where a listing stopped, signed, and good only for the caller it was issued to.

A token is ``<position>.<mac>``, both base64url: the position is the DynamoDB key the next page
starts from (not a secret: the caller has seen everything before it), and the MAC is
HMAC-SHA256 over the position *and* what the token is bound to: the owner of the listing, which
listing (a session's messages, or the owner's sessions) and the session. So a token cannot be
forged, edited, or replayed by another caller or on another session: every such token is the
same 400 ("next_token is not valid"), in the route's error shape.

The key is derived from the LiteLLM master key (Secrets Manager in AWS), which every function
instance already reads, so every instance accepts every other's tokens and no new secret is
needed; rotating the master key invalidates outstanding tokens (a client starts its listing
again). A deployment without a master key signs with a random per-process key instead.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from typing import Any

from gateway_core.errors import InvalidRequestError
from gateway_core.secrets import get_master_key

__all__ = ["open_token", "seal_token", "token_key"]

_PURPOSE = b"gateway next_token v1"
_fallback_key = secrets.token_bytes(32)


async def token_key() -> bytes:
    master = await get_master_key()
    if not master:
        return _fallback_key
    return hmac.new(master.encode(), _PURPOSE, hashlib.sha256).digest()


def _mac(key: bytes, position: bytes, binding: tuple[str, ...]) -> bytes:
    message = json.dumps([*binding, position.decode()], separators=(",", ":")).encode()
    return hmac.new(key, message, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal_token(key: bytes, position: Any, *binding: str) -> str:
    encoded = json.dumps(position, separators=(",", ":")).encode()  # opened as these very bytes
    return f"{_b64(encoded)}.{_b64(_mac(key, encoded, binding))}"


def open_token(key: bytes, token: Any, *binding: str) -> Any:
    """The position sealed in ``token`` for ``binding``; InvalidRequestError (400) otherwise."""
    invalid = InvalidRequestError("next_token is not valid", param="next_token")
    if not isinstance(token, str) or token.count(".") != 1 or len(token) > 4096:
        raise invalid
    position_text, _, mac_text = token.partition(".")
    try:
        position, mac = _unb64(position_text), _unb64(mac_text)
    except (binascii.Error, ValueError) as exc:
        raise invalid from exc
    if not hmac.compare_digest(mac, _mac(key, position, binding)):
        raise invalid
    return json.loads(position)  # ours, since the MAC matched
