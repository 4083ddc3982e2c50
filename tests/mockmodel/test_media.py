from __future__ import annotations

import pytest

from gateway.mockmodel.media import (
    CHUNK_SIZE,
    free_box,
    iter_boxes,
    iter_chunks,
    load_asset,
    load_bundle,
    pad_mp4,
)


@pytest.fixture(scope="module")
def base() -> bytes:
    return load_asset("video.mp4")


def test_bundled_video_parses_as_top_level_boxes(base: bytes) -> None:
    """The bundled MP4 walks cleanly, starting with ftyp and holding moov and mdat."""
    boxes = list(iter_boxes(base))
    types = [box_type for box_type, _ in boxes]
    assert types[0] == "ftyp"
    assert types.index("moov") < types.index("mdat")
    assert sum(size for _, size in boxes) == len(base)


@pytest.mark.parametrize("extra", [8, 9, 1000, 3 * CHUNK_SIZE + 17])
def test_padding_hits_the_exact_size_and_still_parses(base: bytes, extra: int) -> None:
    """Padding appends one trailing free box so the file is exactly content_size bytes."""
    padded = pad_mp4(base, len(base) + extra)
    assert len(padded) == len(base) + extra
    assert padded.startswith(base)
    boxes = list(iter_boxes(padded))
    assert boxes[:-1] == list(iter_boxes(base))
    assert boxes[-1] == ("free", extra)
    assert sum(size for _, size in boxes) == len(padded)
    assert padded[len(base) + 8 :] == bytes(extra - 8)


@pytest.mark.parametrize("target", [None, 0, 100])
def test_targets_not_above_the_base_serve_it_unchanged(base: bytes, target: int | None) -> None:
    """A missing or too-small content_size leaves the bundled video untouched."""
    assert pad_mp4(base, target) is base
    assert pad_mp4(base, len(base)) is base


@pytest.mark.parametrize("extra", [1, 7])
def test_padding_smaller_than_a_box_header_is_rejected(base: bytes, extra: int) -> None:
    """A gap of 1-7 bytes cannot hold a box header, so the size is refused up front."""
    with pytest.raises(ValueError, match="at least 8 bytes"):
        pad_mp4(base, len(base) + extra)


def test_walker_reads_64_bit_and_to_end_sizes() -> None:
    """Box size 1 means a 64-bit largesize follows; size 0 means the box runs to the end."""
    large = (1).to_bytes(4, "big") + b"mdat" + (24).to_bytes(8, "big") + b"12345678"
    to_end = (0).to_bytes(4, "big") + b"free" + b"xyz"
    assert list(iter_boxes(free_box(8) + large + to_end)) == [
        ("free", 8),
        ("mdat", 24),
        ("free", 11),
    ]


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x00\x00",
        (100).to_bytes(4, "big") + b"moov",
        (4).to_bytes(4, "big") + b"moov",
        (1).to_bytes(4, "big") + b"mdat" + b"\x00",
    ],
)
def test_walker_rejects_truncated_or_impossible_boxes(data: bytes) -> None:
    """Truncated headers and sizes that overrun the file or undercut the header raise."""
    with pytest.raises(ValueError, match=r"box|header"):
        list(iter_boxes(data))


async def test_chunks_are_shared_slices_covering_the_data() -> None:
    """Streaming yields zero-copy 64 KiB views that reassemble into the original bytes."""
    data = bytes(range(256)) * 1000
    chunks = [chunk async for chunk in iter_chunks(memoryview(data))]
    assert all(isinstance(chunk, memoryview) for chunk in chunks)
    assert [len(chunk) for chunk in chunks[:-1]] == [CHUNK_SIZE] * (len(chunks) - 1)
    assert b"".join(chunks) == data
    assert chunks[0].obj is data


def test_bundle_loads_the_image_variants() -> None:
    """The thumbnail is WebP and the spritesheet JPEG, as their content types claim."""
    bundle = load_bundle()
    assert bundle.thumbnail[:4] == b"RIFF"
    assert bundle.thumbnail[8:12] == b"WEBP"
    assert bundle.spritesheet[:3] == b"\xff\xd8\xff"
    assert bundle.asset("video") is bundle.video
