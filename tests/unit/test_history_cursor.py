"""next_token's key and encoding, and what a stored message costs, at their edges (the routes' tests page
through real listings; these pin the padding and size arithmetic a listing rarely reaches)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac

import pytest
from gateway_core import secrets
from gateway_core.errors import InvalidRequestError
from gateway_core.history import cursor
from gateway_core.history.cursor import open_token, seal_token
from gateway_core.history.sizes import message_cost

KEY = b"k" * 32


@pytest.mark.parametrize("length", range(8))  # every base64 remainder of the position, and of the MAC
def test_a_token_opens_to_its_position_whatever_its_padding(length: int) -> None:
    position = {"pk": "S#s", "sk": "M#" + "9" * length}
    assert open_token(KEY, seal_token(KEY, position, "user:ann", "messages"), "user:ann", "messages") == position


def test_tokens_up_to_4096_characters_are_read_and_longer_ones_refused() -> None:
    longest = {"k": "x" * 3031}  # 3039 bytes of JSON: 4052 base64 characters, ".", a 43-character MAC
    token = seal_token(KEY, longest, "user:ann")
    assert len(token) == 4096
    assert open_token(KEY, token, "user:ann") == longest
    too_long = seal_token(KEY, {"k": "x" * 3032}, "user:ann")
    with pytest.raises(InvalidRequestError, match="^next_token is not valid$"):
        open_token(KEY, too_long, "user:ann")


def test_a_message_costs_its_larger_served_shape_as_a_json_string() -> None:
    # OpenAI: {"role":"user","content":"hi"} is 30 characters, 40 as a JSON string (8 quotes escaped, 2 added);
    # Converse: {"messages":[{"role":"user","content":[{"text":"hi"}]}],"system":[]} is 68, 84 (14 escaped, 2).
    assert message_cost({"role": "user", "content": "hi"}) == 84


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x00\x01", b"\x00\x00\x17", b"\xff\xfe\xfd\xfc"])
def test_unpadded_base64url_round_trips_whatever_its_last_character(data: bytes) -> None:
    # b"\x00\x00\x17" encodes as "AAAX": a strip of anything but "=" would eat its last character
    assert cursor._unb64(cursor._b64(data)) == data


def test_the_token_key_is_the_master_keys_hmac_so_every_instance_and_release_shares_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Derived, not random: a token one function instance (or the release before a deploy) issued
    opens on every other; the purpose string keeps it apart from any other use of the master key."""
    monkeypatch.setattr(secrets, "_value", "sk-master")
    monkeypatch.setattr(cursor, "_fallback_key", b"\x00" * 32)  # another process's random fallback
    derived = asyncio.run(cursor.token_key())
    assert derived == hmac.new(b"sk-master", b"gateway next_token v1", hashlib.sha256).digest()


def test_a_rotated_master_key_voids_earlier_tokens_and_without_one_a_process_key_signs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(secrets, "_value", "sk-old")
    token = seal_token(asyncio.run(cursor.token_key()), {"pk": "S#s"}, "user:ann")
    monkeypatch.setattr(secrets, "_value", "sk-new")
    with pytest.raises(InvalidRequestError, match="^next_token is not valid$"):
        open_token(asyncio.run(cursor.token_key()), token, "user:ann")
    monkeypatch.setattr(secrets, "_value", "")
    assert asyncio.run(cursor.token_key()) == cursor._fallback_key
