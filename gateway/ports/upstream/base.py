"""The model API as the gateway sees it: one streaming HTTP exchange at a time."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence
from typing import Protocol

Headers = Sequence[tuple[str, str]]
RequestBody = bytes | AsyncIterable[bytes] | None


class UpstreamResponse(Protocol):
    """An answer whose head has arrived and whose body has not been read yet."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Headers: ...

    def body(self) -> AsyncIterator[bytes]:
        """The body as it arrives; raises `UpstreamTimeout` or `UpstreamUnavailable` mid-way."""
        ...

    async def read(self, limit: int) -> bytes:
        """The whole body, refused with `UpstreamUnavailable` beyond `limit` bytes."""
        ...

    def release(self) -> None:
        """Give the connection back to the pool (or drop it if the body was not drained)."""
        ...


class Upstream(Protocol):
    async def send(
        self, method: str, target: str, headers: Headers, body: RequestBody
    ) -> UpstreamResponse:
        """Send a request; raises `UpstreamUnavailable` or `UpstreamTimeout` before any answer."""
        ...

    async def reachable(self) -> bool:
        """Whether the model API answers HTTP at all (any status), for readiness."""
        ...

    async def close(self) -> None: ...
