"""A yes/no check of a request body against a botocore shape, compiled once per shape.

``validation`` runs botocore's ``ParamValidator`` (with the wire rules it adds) on every Converse
body: a generic walk that dispatches by name, checks special cases and wraps every node in a
type-check guard, ~50 us for a one-message body, on the way of every request. Almost every body
is valid, so this check is asked first: a closure per shape that only answers "valid or not".

It is never looser than the validator: every rule the validator applies is applied here, some
more strictly (a tuple is not a list, ``True`` is not an integer), and a shape holding what the
validator treats specially and Converse bodies do not carry (a JSON header value, a host label, a
timestamp, a shape inside itself) gets no check at all. When it says no, the validator
runs and writes the report, so what a client is told about a bad body comes from the validator
alone.
tests/unit/test_converse_shape_check.py holds the two to that on generated bodies.
"""

from __future__ import annotations

import binascii
import math
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

__all__ = ["Check", "compile_check", "is_base64", "matches"]

Check = Callable[[Any], bool]

_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


def is_base64(text: str) -> bool:
    """A blob's text as JSON carries it: padded base64 that decodes."""
    if len(text) % 4 or _BASE64.fullmatch(text) is None:
        return False
    try:
        binascii.a2b_base64(text.encode())
    except binascii.Error:
        return False
    return True


@lru_cache(maxsize=256)
def _pattern(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:  # a Java-only construct: Bedrock checks it, we cannot
        return None


def matches(pattern: str, value: str) -> bool:
    """``value`` matches the model's ``pattern`` (one it cannot compile is Bedrock's to check)."""
    compiled = _pattern(pattern)
    return compiled is None or compiled.fullmatch(value) is not None


class _Unsupported(Exception):
    """A shape this check does not compile: the validator alone checks bodies of that shape."""


def _document(value: Any) -> bool:
    """A JSON value (botocore's document rule: None, str, int, bool, float, lists and dicts of them)."""
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


def _bounds(shape: Any) -> tuple[float, float]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    return (-math.inf if low is None else float(low), math.inf if high is None else float(high))


class _Compiler:
    """One check per shape. What the validator treats specially and the Converse input does not
    use (JSON header values, host labels, timestamps, a shape inside itself) is not compiled."""

    def __init__(self, unchecked_patterns: frozenset[str]) -> None:
        self._unchecked = unchecked_patterns
        self._done: dict[str, Check] = {}
        self._started: set[str] = set()  # a started shape is done, or being built (recursion)

    def check(self, shape: Any) -> Check:
        if shape.serialization.get("jsonvalue") or shape.serialization.get("hostLabel"):
            raise _Unsupported  # a JSON header value, or a host label (implicit minimum)
        if shape.type_name == "structure" and shape.is_document_type:
            return _document
        name = shape.name
        if name in self._done:
            return self._done[name]
        if name in self._started:
            raise _Unsupported  # a shape inside itself
        build = getattr(self, f"_{shape.type_name}", None)
        if build is None:
            raise _Unsupported  # a timestamp
        self._started.add(name)
        self._done[name] = build(shape)
        return self._done[name]

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


def compile_check(shape: Any, unchecked_patterns: frozenset[str] = frozenset()) -> Check | None:
    """The check of ``shape`` (a botocore Shape), or None when it holds what is not compiled;
    patterns of the shapes named in ``unchecked_patterns`` are not checked (as the validator does
    not check them)."""
    try:
        return _Compiler(unchecked_patterns).check(shape)
    except _Unsupported:
        return None
