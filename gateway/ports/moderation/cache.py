"""One classifier call per distinct prompt: a bounded cache of answers in flight and done.

Keyed by the service and a digest of the prompt, so the cache holds no prompt text.
Requests that ask while a call is on its way share it; a failure is not kept, so the
next request with the prompt asks again.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from typing import Final

from gateway.core.policy.moderation import Moderation, ModerationFailure, ModerationService
from gateway.ports.moderation.base import Moderator

DEFAULT_CAPACITY: Final = 4096

_Key = tuple[str, str, bytes]


class CachedModerator:
    def __init__(self, inner: Moderator, *, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._inner = inner
        self._capacity = capacity
        self._answers: OrderedDict[_Key, asyncio.Task[Moderation]] = OrderedDict()

    async def classify(self, service: ModerationService, prompt: str) -> Moderation:
        key = (
            service.url,
            service.model,
            hashlib.sha256(prompt.encode("utf-8", "replace")).digest(),
        )
        task = self._answers.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._inner.classify(service, prompt))
            task.add_done_callback(lambda done: self._forget_failure(key, done))
            self._answers[key] = task
            while len(self._answers) > self._capacity:
                self._answers.popitem(last=False)
        else:
            self._answers.move_to_end(key)
        # Shielded: a caller that gives up does not cancel the call others wait on.
        return await asyncio.shield(task)

    def _forget_failure(self, key: _Key, done: asyncio.Task[Moderation]) -> None:
        failed = done.cancelled() or done.exception() is not None
        if (failed or isinstance(done.result(), ModerationFailure)) and (
            self._answers.get(key) is done
        ):
            del self._answers[key]

    async def close(self) -> None:
        for task in self._answers.values():
            task.cancel()
        self._answers.clear()
        await self._inner.close()
