"""Request headers that decide what a generation body means, read one way only.

A header given twice is read as the first by some servers, the last or a comma-joined
list by others: with two Content-Types the gateway could judge JSON while the model
API reads something else. A compressed body would be judged compressed and read
inflated. Both are refused before the body is looked at.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from gateway.core.errors import BadRequest, UnsupportedMediaType

# Headers a generation request may carry once at most.
SINGLE = frozenset({"content-type", "content-encoding", "idempotency-key"})


def check_generation_headers(headers: Sequence[tuple[str, str]]) -> None:
    names = [name.lower() for name, _ in headers]
    for name, count in Counter(names).items():
        if count > 1 and name in SINGLE:
            raise BadRequest(
                f"The header {name!r} is given {count} times; give it once.", param=name
            )
    for name, value in headers:
        if name.lower() == "content-encoding" and value.strip().lower() != "identity":
            raise UnsupportedMediaType(
                "Generation requests are taken uncompressed (no Content-Encoding)."
            )
