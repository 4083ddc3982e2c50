"""Request header values the gateway can pass on exactly as they came.

A header value reaches the gateway as bytes, and bytes above 0x7F (RFC 9110's obsolete
`obs-text`) have no agreed reading: the gateway reads them as Latin-1, while the HTTP
client that forwards them writes text as UTF-8, so the model API would receive other
bytes than the gateway judged. In a Content-Type boundary that even splits one form two
ways, one for the policy and one for the model. Control characters (other than tab) are
not field content at all. A value holding either is refused, naming its header.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_CARRIABLE = re.compile(rb"[\t\x20-\x7e]*")


def uncarriable_header(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The name (as `Content-Type`, the way errors name headers) of the first header whose
    value is not visible ASCII, spaces and tabs; None when every value is."""
    for name, value in headers:
        if _CARRIABLE.fullmatch(value) is None:
            return "-".join(part.capitalize() for part in name.decode("latin-1").split("-"))
    return None
