"""Strict reading of `value; name=param; name="param"` headers (RFC 9110 §5.6.6).

Content-Type and Content-Disposition decide what a body means, and parsers disagree on
the odd spellings: a parameter given twice (the first wins here, the last there), the
RFC 2231 `name*=` form (honoured by some, ignored by others), unbalanced quotes. The
gateway must read a body exactly as the model API will, so it refuses every spelling
on which two parsers could differ instead of guessing which one the model API uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TCHARS = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = r'"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[\t\x20-\x7e\x80-\xff])*"'
_PARAMETER = re.compile(rf"[ \t]*;[ \t]*({_TCHARS})=({_TCHARS}|{_QUOTED})[ \t]*")
_HEAD = re.compile(rf"[ \t]*({_TCHARS}(?:/{_TCHARS})?)[ \t]*")
_ESCAPE = re.compile(r"\\(.)")


class MalformedHeader(ValueError):
    """The header value is not one that every parser reads the same way."""


@dataclass(frozen=True, slots=True)
class ParameterizedValue:
    value: str  # lower-cased: media types and disposition types are case-insensitive
    params: dict[str, str]  # names lower-cased, quoted values unquoted


def parse(header: str, *, allowed: frozenset[str] | None = None) -> ParameterizedValue:
    """The value and its parameters; `MalformedHeader` for anything ambiguous.

    `allowed` names the only parameters accepted (others are refused, not ignored)."""
    head = _HEAD.match(header)
    if head is None:
        raise MalformedHeader("it does not start with a type")
    params: dict[str, str] = {}
    position = head.end()
    while position < len(header):
        match = _PARAMETER.match(header, position)
        if match is None:
            raise MalformedHeader("its parameters are not `; name=value` pairs")
        name = match.group(1).lower()
        if name.endswith("*"):
            raise MalformedHeader(f"the extended parameter form {name!r} is not accepted")
        if name in params:
            raise MalformedHeader(f"it repeats the parameter {name!r}")
        if allowed is not None and name not in allowed:
            raise MalformedHeader(f"it has the unknown parameter {name!r}")
        raw = match.group(2)
        params[name] = _ESCAPE.sub(r"\1", raw[1:-1]) if raw.startswith('"') else raw
        position = match.end()
    return ParameterizedValue(head.group(1).lower(), params)
