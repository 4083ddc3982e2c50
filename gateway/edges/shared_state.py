"""What every request needs from the store, held in memory and kept fresh.

Admin changes (grants, revocations, key rotations, the phase) bump the store's
revision; a watcher polls that one number and reloads on change, so a revocation made
by the CLI reaches this process within one poll interval while requests never wait on
the store to learn about it. A store that announces its changes (Redis, over pub/sub)
is followed as well: the reload starts when the announcement arrives, and the poll,
slower then, is only the fallback for an announcement lost on the way.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import structlog

from gateway.core.identity import RevocationView
from gateway.core.keys import KeyRing, new_key
from gateway.ports.store import ChangeFeed, Store, StoreUnavailable

_log = structlog.get_logger("phasegate.state")
_MIN_CATCH_UP_SPACING = 0.05
# The revision poll beside a change feed: it bounds how late a lost announcement is.
_FALLBACK_POLL = 0.5
_RESUBSCRIBE_AFTER = 0.5


class SharedState:
    def __init__(self, store: Store, clock: Callable[[], float], interval: float = 0.2) -> None:
        self.store = store
        self._clock = clock
        self._interval = interval
        self.keys = KeyRing({}, None)
        self.revocations = RevocationView({}, frozenset(), -1)
        # The phase an admin set, or None: the policy's default_phase applies then.
        self.phase: str | None = None
        self.healthy = False
        self._next_key_change: float | None = None
        self._loaded_at = float("-inf")
        self._last_catch_up = float("-inf")
        self._reload = asyncio.Lock()

    async def load(self) -> None:
        """Read everything now; creates the first signing key of a fresh store."""
        now = self._clock()
        # The view (and the revision it carries) is read first: keys and phase read after
        # it are at least as new, and any change after it moves the revision again.
        revocations = await self.store.revocation_view(now)
        stored = await self.store.keys()
        if not any(key.verifies_at(now) and key.retire_at is None for key in stored):
            await self.store.add_key(new_key(now))
            stored = await self.store.keys()
        self.revocations = revocations
        self.phase = await self.store.phase()
        self.keys = KeyRing.from_stored(stored, now)
        upcoming = [k.retire_at for k in stored if k.retire_at is not None and k.retire_at > now]
        self._next_key_change = min(upcoming, default=None)
        self._loaded_at = time.monotonic()
        self.healthy = True

    async def catch_up(self) -> None:
        """Reload now, for a validly signed token whose client or key this process has not
        heard of yet (granted or rotated a moment ago, elsewhere).

        Callers waiting together share one reload, and these reloads are spaced out, so a
        flood of unknown key ids cannot turn into a flood of store reads.
        """
        asked_at = time.monotonic()
        async with self._reload:
            if self._loaded_at >= asked_at:
                return
            pause = self._last_catch_up + _MIN_CATCH_UP_SPACING - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
            self._last_catch_up = time.monotonic()
            with contextlib.suppress(StoreUnavailable):
                await self.load()

    def _stale(self, revision: int) -> bool:
        if revision != self.revocations.revision:
            return True
        return self._next_key_change is not None and self._clock() >= self._next_key_change

    async def refresh(self, revision: int) -> None:
        """Reload unless `revision` is what is loaded; one reload at a time, so a slow
        one can never overwrite a newer one."""
        async with self._reload:
            if self._stale(revision):
                await self.load()

    async def follow(self, feed: ChangeFeed) -> None:
        """Reload on every change the store announces; subscribe again after a break (the
        first announcement of a subscription tells what was missed)."""
        working = True
        while True:
            try:
                async for revision in feed.changes():
                    working = True
                    await self.refresh(revision)
            except StoreUnavailable as exc:
                # Once per outage: the retries every half second would flood the log.
                if working:
                    _log.warning("store_change_feed_lost", reason=str(exc))
                working = False
            await asyncio.sleep(_RESUBSCRIBE_AFTER)

    async def watch(self) -> None:
        interval = self._interval
        if isinstance(self.store, ChangeFeed):
            interval = max(interval, _FALLBACK_POLL)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.refresh(await self.store.revision())
                self.healthy = True
            except StoreUnavailable as exc:
                # Keep serving with what we know; readiness reports the outage.
                if self.healthy:
                    _log.warning("store_unavailable", reason=str(exc))
                self.healthy = False


@contextlib.asynccontextmanager
async def watching(state: SharedState) -> AsyncIterator[SharedState]:
    await state.load()
    tasks = [asyncio.create_task(state.watch(), name="shared-state-watch")]
    if isinstance(state.store, ChangeFeed):
        tasks.append(asyncio.create_task(state.follow(state.store), name="shared-state-feed"))
    try:
        yield state
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
