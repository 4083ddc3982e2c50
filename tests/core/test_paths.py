"""Paths and queries have one canonical spelling, or are refused."""

from __future__ import annotations

import pytest

from gateway.core.errors import BadRequest
from gateway.core.paths import (
    InvalidPath,
    canonical_path,
    canonical_query,
    encode_path,
    encode_query,
)


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        (b"/v1/videos", "/v1/videos"),
        (b"/v1/videos/", "/v1/videos/"),
        (b"/", "/"),
        (b"/v1/vid%65os", "/v1/videos"),
        (b"/v1/videos/a%2Db", "/v1/videos/a-b"),
        (b"/v1/caf%C3%A9", "/v1/café"),
        (b"/v1/..x/x..", "/v1/..x/x.."),
        (b"/v1/a;b=c", "/v1/a;b=c"),
    ],
)
def test_paths_with_one_meaning_read_decoded(raw: bytes, path: str) -> None:
    assert canonical_path(raw) == path


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"v1/videos", "start with '/'"),
        (b"*", "start with '/'"),
        (b"/v1/./videos", "'.' or '..' segment"),
        (b"/v1/x/../videos", "'.' or '..' segment"),
        (b"/v1/%2e/videos", "'.' or '..' segment"),
        (b"/v1/%2E%2e/videos", "'.' or '..' segment"),
        (b"/v1/.%2E/videos", "'.' or '..' segment"),
        (b"/v1/videos/.", "'.' or '..' segment"),
        (b"//v1/videos", "empty segment"),
        (b"/v1//videos", "empty segment"),
        (b"/v1%2Fvideos", "escaped '/'"),
        (b"/v1%2fvideos", "escaped '/'"),
        (b"/v1%5Cvideos", "escaped '/' or '\\'"),
        (b"/v1\\videos", "'\\\\'"),
        (b"/v1/videos%00", "control character"),
        (b"/v1/videos%7F", "control character"),
        (b"/v1/videos%C2%85", "control character"),
        (b"/v1/videos%zz", "does not start an escape"),
        (b"/v1/videos%2", "does not start an escape"),
        (b"/v1/%u002e", "does not start an escape"),
        (b"/v1/%C0%AE", "not UTF-8"),
        (b"/v1/%FF", "not UTF-8"),
        (b"/v1/vid eos", "the byte 0x20"),
        (b"/v1/vid\xc3\xa9os", "the byte 0xc3"),
        (b"/v1/videos#x", "'#'"),
    ],
)
def test_paths_without_one_meaning_are_invalid(raw: bytes, says: str) -> None:
    with pytest.raises(InvalidPath) as caught:
        canonical_path(raw)
    assert caught.value.code == "invalid_path"
    assert caught.value.status == 400
    assert says in caught.value.message


def test_a_canonical_path_encodes_to_itself_when_it_holds_only_unreserved_characters() -> None:
    assert encode_path("/v1/videos/video_1-a.b~c") == "/v1/videos/video_1-a.b~c"
    assert encode_path("/v1/café x") == "/v1/caf%C3%A9%20x"


def test_queries_read_once_and_re_encode_without_ambiguity() -> None:
    pairs = canonical_query(b"after=video_1&limit=10&&order=asc&q=a+b%2Bc")
    assert pairs == (("after", "video_1"), ("limit", "10"), ("order", "asc"), ("q", "a b+c"))
    assert encode_query(pairs) == "after=video_1&limit=10&order=asc&q=a%20b%2Bc"
    assert canonical_query(b"") == ()


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"limit=1&limit=2", "more than once"),
        (b"=1", "without a name"),
        (b"a=%zz", "does not start an escape"),
        (b"a=%FF", "not UTF-8"),
        (b"a=%0A", "control character"),
        (b"a=b c", "the byte 0x20"),
    ],
)
def test_ambiguous_queries_are_400(raw: bytes, says: str) -> None:
    with pytest.raises(BadRequest) as caught:
        canonical_query(raw)
    assert caught.value.code == "invalid_request"
    assert says in caught.value.message
