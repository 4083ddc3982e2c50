"""Group commit on the event loop: concurrent appends share one write.

`append` queues its record and waits. One flusher task hands everything queued (up to
`max_batch` records) to the adapter's `commit` as one batch; records arriving meanwhile
wait for the next batch. When `commit` returns, each waiter gets its own outcome (a
record that cannot be serialised fails alone); when it raises `AuditUnavailable`, every
waiter of that batch gets it. So the order of the chain is the order of `append` calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Final

from gateway.ports.audit.base import AuditUnavailable

Record = dict[str, Any]
# Chains and makes durable one batch, in order: per record None, or the error of a record
# that could not be serialised. Raises AuditUnavailable when the batch as a whole failed.
Commit = Callable[[list[Record]], Awaitable[list[Exception | None]]]

DEFAULT_MAX_BATCH: Final = 256

_Waiter = tuple[Record, asyncio.Future[None]]


class GroupCommit:
    def __init__(self, commit: Commit, *, name: str, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._commit = commit
        self._name = name
        self._max_batch = max_batch
        self._pending: list[_Waiter] = []
        self._flusher: asyncio.Task[None] | None = None
        self.last_batch_ok = True

    async def append(self, record: Record) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((record, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name=self._name)
        await future

    async def settle(self) -> None:
        """Wait until every record queued so far has its outcome."""
        if self._flusher is not None:
            await asyncio.wait([self._flusher])

    async def _flush(self) -> None:
        batch: list[_Waiter] = []
        try:
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                try:
                    problems = await self._commit([record for record, _ in batch])
                except AuditUnavailable as error:
                    self.last_batch_ok = False
                    fail(batch, str(error))
                    batch = []
                    continue
                self.last_batch_ok = True
                for (_, future), problem in zip(batch, problems, strict=True):
                    if future.done():
                        continue
                    if problem is None:
                        future.set_result(None)
                    else:
                        future.set_exception(problem)
                batch = []
        except BaseException:
            # Cancelled with the loop, or a bug: nobody may wait forever, nor proceed.
            self.last_batch_ok = False
            fail(batch + self._pending, "the audit writer stopped")
            self._pending = []
            raise


def fail(waiters: list[_Waiter], message: str) -> None:
    for _, future in waiters:
        if not future.done():
            future.set_exception(AuditUnavailable(message))
