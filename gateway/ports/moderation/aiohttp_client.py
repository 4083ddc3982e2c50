"""The moderation service over HTTP (OpenAI moderation API shape), one pooled session."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson

from gateway.core.policy.moderation import (
    Moderation,
    ModerationFailure,
    ModerationService,
    UnreadableAnswer,
    read_answer,
    request_document,
)

# A moderation answer is a few hundred bytes; anything far larger is not one.
_MAX_ANSWER_BYTES = 1 << 20


class AiohttpModerator:
    """Posts each prompt with the bearer key, if one is configured; the key never leaves
    this object except in that header."""

    def __init__(self, key: str | None = None) -> None:
        self._headers = {"content-type": "application/json"}
        if key:
            self._headers["authorization"] = f"Bearer {key}"
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=256), raise_for_status=False
            )
        return self._session

    async def classify(self, service: ModerationService, prompt: str) -> Moderation:
        body = orjson.dumps(request_document(service, prompt))
        try:
            async with asyncio.timeout(service.timeout):
                async with self._client().post(
                    service.url, data=body, headers=self._headers, allow_redirects=False
                ) as response:
                    if response.status != 200:
                        return ModerationFailure(f"the service answered {response.status}")
                    answer = await response.content.read(_MAX_ANSWER_BYTES + 1)
        except TimeoutError:
            return ModerationFailure(f"no answer within {service.timeout:g}s")
        except (aiohttp.ClientError, OSError) as error:
            return ModerationFailure(f"the service cannot be reached ({type(error).__name__})")
        if len(answer) > _MAX_ANSWER_BYTES:
            return ModerationFailure("the answer is too large to be a moderation result")
        try:
            return read_answer(orjson.loads(answer))
        except (orjson.JSONDecodeError, UnreadableAnswer) as error:
            return ModerationFailure(f"unreadable answer: {error}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
