"""What every request needs from the store, held in memory and kept fresh.

Admin changes (grants, revocations, key rotations) bump the store's revision; a
watcher polls that one number and reloads on change, so a revocation made by the
CLI reaches this process within one poll interval while requests never wait on
the store to learn about it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import structlog

from gateway.core.identity import RevocationView
from gateway.core.keys import KeyRing, new_key
from gateway.ports.store import Store, StoreUnavailable

_log = structlog.get_logger("phasegate.state")
_MIN_CATCH_UP_SPACING = 0.05


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
        stored = await self.store.keys()
        if not any(key.verifies_at(now) and key.retire_at is None for key in stored):
            await self.store.add_key(new_key(now))
            stored = await self.store.keys()
        self.revocations = await self.store.revocation_view(now)
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

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                if self._stale(await self.store.revision()):
                    await self.load()
                self.healthy = True
            except StoreUnavailable as exc:
                # Keep serving with what we know; readiness reports the outage.
                if self.healthy:
                    _log.warning("store_unavailable", reason=str(exc))
                self.healthy = False


@contextlib.asynccontextmanager
async def watching(state: SharedState) -> AsyncIterator[SharedState]:
    await state.load()
    task = asyncio.create_task(state.watch(), name="shared-state-watch")
    try:
        yield state
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
