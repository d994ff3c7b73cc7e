"""A yes/no check of a request body against a botocore shape, compiled once per shape.

``validation`` runs botocore's ``ParamValidator`` (with the wire rules it adds) on every Converse
body: a generic walk that dispatches by name, checks special cases and wraps every node in a
type-check guard, ~50 us for a one-message body, on the way of every request. Almost every body
is valid, so this check is asked first: a closure per shape that only answers "valid or not".

It is never looser than the validator: every rule the validator applies is applied here, some
more strictly (a tuple is not a list, ``True`` is not an integer, a timestamp or a ``jsonvalue``
header is never taken on trust). When it says no, the validator runs and writes the report, so
what a client is told about a bad body comes from the validator alone.
tests/unit/test_converse_shape_check.py holds the two to that on generated bodies.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable
from typing import Any

__all__ = ["Check", "compile_check", "is_base64", "matches"]

Check = Callable[[Any], bool]

_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_compiled_patterns: dict[str, re.Pattern[str] | None] = {}


def is_base64(text: str) -> bool:
    """A blob's text as JSON carries it: padded base64 that decodes."""
    if len(text) % 4 or _BASE64.fullmatch(text) is None:
        return False
    try:
        binascii.a2b_base64(text.encode())
    except binascii.Error:
        return False
    return True


def matches(pattern: str, value: str) -> bool:
    """``value`` matches the model's ``pattern``; a pattern Python cannot compile (a Java-only
    construct) is Bedrock's to check, not ours."""
    if pattern not in _compiled_patterns:
        try:
            _compiled_patterns[pattern] = re.compile(pattern)
        except re.error:
            _compiled_patterns[pattern] = None
    compiled = _compiled_patterns[pattern]
    return compiled is None or compiled.fullmatch(value) is not None


def _never(_: Any) -> bool:
    return False


def _document(value: Any) -> bool:
    """Any JSON value (botocore's document rule: None, str, int, bool, float, lists and dicts of them)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif node is not None and not isinstance(node, str | int | float):
            return False
    return True


def _minimum(shape: Any) -> float | None:
    """botocore's ``range_check``: the model's min, else 1 for a member bound to the host."""
    if "min" in shape.metadata:
        return float(shape.metadata["min"])
    serialization = getattr(shape, "serialization", None) or {}
    return 1.0 if serialization.get("hostLabel") else None


def _bounds(shape: Any) -> tuple[float, float]:
    low = _minimum(shape)
    high = shape.metadata.get("max")
    return (float("-inf") if low is None else low, float("inf") if high is None else float(high))


class _Compiler:
    def __init__(self, unchecked_patterns: frozenset[str]) -> None:
        self._unchecked = unchecked_patterns
        self._done: dict[str, Check] = {}

    def check(self, shape: Any) -> Check:
        serialization = getattr(shape, "serialization", None) or {}
        if serialization.get("jsonvalue") and serialization.get("location") == "header":
            return _never
        if shape.type_name == "structure" and shape.is_document_type:
            return _document
        name = shape.name
        if name in self._done:
            return self._done[name]
        # A shape can contain itself: its check is found by name while it is being built.
        slot: list[Check] = []
        self._done[name] = lambda value: slot[0](value)
        built = getattr(self, f"_{shape.type_name}", None)
        slot.append(built(shape) if built is not None else _never)  # timestamps and the unknown: no
        self._done[name] = slot[0]
        return slot[0]

    def _structure(self, shape: Any) -> Check:
        members = {name: self.check(member) for name, member in shape.members.items()}
        required = tuple(shape.metadata.get("required", ()))
        union = shape.is_tagged_union

        def structure(value: Any) -> bool:
            if not isinstance(value, dict) or (union and len(value) != 1):
                return False
            for name in required:
                if name not in value:
                    return False
            for name, item in value.items():
                member = members.get(name)
                if member is None or not member(item):
                    return False
            return True

        return structure

    def _list(self, shape: Any) -> Check:
        item_check = self.check(shape.member)
        low, high = _bounds(shape)

        def list_(value: Any) -> bool:
            return isinstance(value, list) and low <= len(value) <= high and all(map(item_check, value))

        return list_

    def _map(self, shape: Any) -> Check:
        key_check, value_check = self.check(shape.key), self.check(shape.value)

        def map_(value: Any) -> bool:
            if not isinstance(value, dict):
                return False
            return all(key_check(k) and value_check(v) for k, v in value.items())

        return map_

    def _string(self, shape: Any) -> Check:
        low, high = _bounds(shape)
        enum = frozenset(shape.enum) if shape.enum else None
        pattern = shape.metadata.get("pattern")
        if shape.name in self._unchecked:
            pattern = None

        def string(value: Any) -> bool:
            if not isinstance(value, str) or not low <= len(value) <= high:
                return False
            if enum is not None and value not in enum:
                return False
            return pattern is None or matches(pattern, value)

        return string

    def _integer(self, shape: Any) -> Check:
        return self._number(shape, int)

    _long = _integer

    def _double(self, shape: Any) -> Check:
        return self._number(shape, int | float)

    _float = _double

    def _number(self, shape: Any, kinds: Any) -> Check:
        low, high = _bounds(shape)

        def number(value: Any) -> bool:
            return isinstance(value, kinds) and not isinstance(value, bool) and low <= value <= high

        return number

    def _boolean(self, _: Any) -> Check:
        return lambda value: isinstance(value, bool)

    def _blob(self, _: Any) -> Check:
        return lambda value: isinstance(value, str) and is_base64(value)


def compile_check(shape: Any, unchecked_patterns: frozenset[str] = frozenset()) -> Check:
    """The check of ``shape`` (a botocore Shape); patterns of the shapes named in
    ``unchecked_patterns`` are not checked (as the validator does not check them)."""
    return _Compiler(unchecked_patterns).check(shape)
