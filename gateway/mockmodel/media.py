"""Bundled media assets and MP4 padding for size-controlled downloads."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Final

CHUNK_SIZE: Final = 64 * 1024
_HEADER: Final = 8
_LARGE_HEADER: Final = 16
_MAX_SIZE32: Final = 0xFFFFFFFF


def load_asset(name: str) -> bytes:
    return resources.files("gateway.mockmodel").joinpath("media", name).read_bytes()


def iter_boxes(data: bytes | memoryview) -> Iterator[tuple[str, int]]:
    """Yield `(type, size)` for each top-level ISO-BMFF box.

    Raises ValueError when a box header is truncated or a size is impossible, so a
    caller that drains the iterator has validated the top-level structure.
    """
    view = memoryview(data)
    offset = 0
    total = len(view)
    while offset < total:
        if total - offset < _HEADER:
            raise ValueError(f"truncated box header at offset {offset}")
        size = int.from_bytes(view[offset : offset + 4], "big")
        box_type = bytes(view[offset + 4 : offset + 8]).decode("latin-1")
        header = _HEADER
        if size == 1:
            if total - offset < _LARGE_HEADER:
                raise ValueError(f"truncated largesize header at offset {offset}")
            size = int.from_bytes(view[offset + 8 : offset + 16], "big")
            header = _LARGE_HEADER
        elif size == 0:
            size = total - offset
        if size < header or offset + size > total:
            raise ValueError(f"box {box_type!r} at offset {offset} has invalid size {size}")
        yield box_type, size
        offset += size


def free_box(size: int) -> bytes:
    """Build a zero-filled `free` box of exactly `size` bytes."""
    if size < _HEADER:
        raise ValueError(f"a box needs at least {_HEADER} bytes, got {size}")
    if size <= _MAX_SIZE32:
        return size.to_bytes(4, "big") + b"free" + bytes(size - _HEADER)
    # Beyond 4 GiB the 32-bit size field overflows; size 1 announces a 64-bit one.
    return (1).to_bytes(4, "big") + b"free" + size.to_bytes(8, "big") + bytes(size - _LARGE_HEADER)


def pad_mp4(base: bytes, content_size: int | None) -> bytes:
    """Append one top-level `free` box so the file is exactly `content_size` bytes.

    Appending (rather than growing an existing box) keeps every `stco` chunk offset
    in `moov` valid, so the padded file still plays. Targets at or below the base
    size return the base unchanged.
    """
    if content_size is None or content_size <= len(base):
        return base
    padding = content_size - len(base)
    if padding < _HEADER:
        raise ValueError(
            f"content_size {content_size} cannot be reached: the padding box needs at least "
            f"{_HEADER} bytes, so use {len(base)} or at least {len(base) + _HEADER}"
        )
    return b"".join((base, free_box(padding)))


async def iter_chunks(data: memoryview, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[memoryview]:
    # Slicing a memoryview shares the buffer, so no chunk is ever copied.
    for start in range(0, len(data), chunk_size):
        yield data[start : start + chunk_size]


@dataclass(frozen=True, slots=True)
class MediaBundle:
    video: bytes
    thumbnail: bytes
    spritesheet: bytes

    def asset(self, variant: str) -> bytes:
        if variant == "thumbnail":
            return self.thumbnail
        if variant == "spritesheet":
            return self.spritesheet
        return self.video


def load_bundle(content_size: int | None = None) -> MediaBundle:
    return MediaBundle(
        video=pad_mp4(load_asset("video.mp4"), content_size),
        thumbnail=load_asset("thumbnail.webp"),
        spritesheet=load_asset("spritesheet.jpg"),
    )
