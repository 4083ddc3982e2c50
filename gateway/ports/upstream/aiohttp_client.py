"""The model API over one pooled aiohttp session for the life of the process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from gateway.core.errors import UpstreamTimeout, UpstreamUnavailable
from gateway.ports.upstream.base import Headers, RequestBody


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    base_url: str
    connect_timeout: float
    read_timeout: float
    max_connections: int = 512


class AiohttpResponse:
    __slots__ = ("_response", "_timeout")

    def __init__(self, response: aiohttp.ClientResponse, read_timeout: float) -> None:
        self._response = response
        self._timeout = read_timeout

    @property
    def status(self) -> int:
        return self._response.status

    @property
    def headers(self) -> Headers:
        return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self._response.raw_headers]

    async def body(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"The model API sent nothing for {self._timeout:g}s mid-response."
            ) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable("The model API broke off its response.") from exc

    async def read(self, limit: int) -> bytes:
        parts: list[bytes] = []
        size = 0
        async for chunk in self.body():
            size += len(chunk)
            if size > limit:
                raise UpstreamUnavailable("The model API answered with an oversized body.")
            parts.append(chunk)
        return b"".join(parts)

    def release(self) -> None:
        self._response.release()


class AiohttpUpstream:
    """Forwards exchanges verbatim: no decompression, no default headers added."""

    def __init__(self, config: UpstreamConfig) -> None:
        self._config = config
        self._base = config.base_url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Created lazily because a session binds to the running event loop.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._config.max_connections, keepalive_timeout=30
                ),
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    sock_connect=self._config.connect_timeout,
                    sock_read=self._config.read_timeout,
                ),
                auto_decompress=False,
                # A body forwarded without a Content-Type gets none: the caller sent none.
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            )
        return self._session

    async def send(
        self, method: str, target: str, headers: Headers, body: RequestBody
    ) -> AiohttpResponse:
        try:
            response = await self._client().request(
                method,
                # Sent as given: the gateway judged this exact target, so nothing may
                # re-quote it or resolve its segments on the way.
                URL(self._base + target, encoded=True),
                headers=CIMultiDict(headers),
                data=body,
                allow_redirects=False,
                compress=None,
            )
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise UpstreamTimeout(
                f"The model API did not answer within {self._config.read_timeout:g}s."
            ) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable("The model API could not be reached.") from exc
        return AiohttpResponse(response, self._config.read_timeout)

    async def reachable(self) -> bool:
        probe_timeout = min(self._config.connect_timeout, 2.0)
        try:
            async with self._client().head(
                self._base + "/",
                timeout=aiohttp.ClientTimeout(total=probe_timeout),
                allow_redirects=False,
            ):
                return True
        except (TimeoutError, aiohttp.ClientError):
            return False

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        # Let the connector's transports finish closing before the loop goes away.
        await asyncio.sleep(0)
