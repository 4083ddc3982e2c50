"""Numbers read from requests, in ASCII digits only.

Python reads more than HTTP does: `int()` and `float()` take any script's digits
(Arabic-Indic three, fullwidth four), underscores (`1_0`) and `inf`/`nan`, while
`str.isdigit()` also says yes to superscripts that `int()` then refuses. A number in a
query, a header or a body is read here instead, so the gateway reads it as the model API
and every HTTP peer do, or refuses it, and never fails on it.
"""

from __future__ import annotations

import math
import re
import string

_WHOLE = re.compile(r"[0-9]+", re.ASCII)
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


def whole_number(text: str) -> int | None:
    """The value of `text` if it is ASCII digits alone (no sign, no space), else None.

    A numeral too long for `int()` (thousands of digits) is None as well."""
    if _WHOLE.fullmatch(text) is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def as_number(value: object) -> int | float | None:
    """A JSON number, or a string that spells one in ASCII (`"8"`, `" 4.5 "`); else None.

    NaN is None (it compares with nothing); an infinity is kept, so limits refuse it."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if not isinstance(value, str):
        return None
    text = value.strip(string.whitespace)
    if _DECIMAL.fullmatch(text) is None:
        return None
    whole = whole_number(text)
    return whole if whole is not None else float(text)
