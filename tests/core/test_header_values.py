"""Header values are passed on only as they came: visible ASCII, spaces and tabs."""

from __future__ import annotations

import pytest

from gateway.core.header_values import uncarriable_header


@pytest.mark.parametrize(
    "value",
    [b"", b"application/json", b'multipart/form-data; boundary="a b"', b"a\tb", b"~!#$%&'*+"],
)
def test_visible_ascii_is_carried(value: bytes) -> None:
    """Everything a header carries in the same bytes through any HTTP stack passes."""
    assert uncarriable_header([(b"content-type", value)]) is None


@pytest.mark.parametrize(
    "value",
    [
        "caf\u00e9".encode("latin-1"),  # obs-text: read as Latin-1, forwarded as UTF-8
        "caf\u00e9".encode(),
        b"a\x00b",
        b"a\x7fb",
        b"a\rb",
        b"a\x1bb",
    ],
)
def test_other_bytes_name_their_header(value: bytes) -> None:
    """A value with bytes beyond visible ASCII names its header, written as errors name
    headers, whatever case the caller used."""
    headers = [(b"accept", b"*/*"), (b"x-video-NOTE", value), (b"x-later", b"\xff")]
    assert uncarriable_header(headers) == "X-Video-Note"
