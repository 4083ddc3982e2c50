"""The policy a running gateway judges by: swapped whole on change, or not at all.

A request reads `PolicyHolder.current` once and uses that object to the end, so no
request ever sees half of one version and half of another.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog

from gateway.core.audit import records
from gateway.core.policy import Policy, PolicyErrors
from gateway.edges.policy_files import PolicyFolderError, fingerprint, read_policy

_log = structlog.get_logger("phasegate.policy")


AuditHook = Callable[[dict[str, Any]], Awaitable[None]]
# Told of every reload: its outcome ("accepted" or "refused") and the policy then in force.
ReloadHook = Callable[[str, Policy], None]


class PolicyHolder:
    def __init__(
        self,
        folder: Path,
        initial: Policy,
        *,
        audit: AuditHook | None = None,
        on_reload: ReloadHook | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.folder = folder
        self.current = initial
        self._audit = audit
        self._on_reload = on_reload
        self._clock = clock
        self.reloads_accepted = 0
        self.reloads_refused = 0
        self._seen = fingerprint(folder)
        self._lock = asyncio.Lock()

    async def reload(self, reason: str) -> bool:
        """Load the folder again; swap it in if valid, else keep serving the current one."""
        async with self._lock:
            self._seen = fingerprint(self.folder)
            try:
                # Compiling large word lists takes a while: off the event loop.
                candidate = await asyncio.to_thread(read_policy, self.folder)
            except (PolicyErrors, PolicyFolderError, OSError, UnicodeDecodeError) as exc:
                self.reloads_refused += 1
                self._observe("refused")
                errors = (
                    [str(e) for e in exc.errors] if isinstance(exc, PolicyErrors) else [str(exc)]
                )
                _log.error(
                    "policy_reload_refused",
                    reason=reason,
                    errors=errors,
                    serving=self.current.version,
                )
                await self._record("rejected", reason, None, self.current.version, errors)
                return False
            previous, self.current = self.current, candidate
            self.reloads_accepted += 1
            self._observe("accepted")
            if candidate.version != previous.version:
                _log.info(
                    "policy_reloaded",
                    reason=reason,
                    version=candidate.version,
                    previous=previous.version,
                )
                await self._record("loaded", reason, candidate.version, previous.version, [])
            return True

    def _observe(self, outcome: str) -> None:
        if self._on_reload is not None:
            self._on_reload(outcome, self.current)

    async def _record(
        self,
        outcome: str,
        reason: str,
        version: str | None,
        previous: str,
        errors: list[str],
    ) -> None:
        if self._audit is None:
            return
        await self._audit(
            records.policy_reload(
                time=self._clock(),
                actor=f"gateway ({reason})",
                outcome=outcome,
                policy_version=version,
                previous_policy_version=previous,
                errors=errors,
            )
        )

    async def watch(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            if fingerprint(self.folder) != self._seen:
                await self.reload("file change")


@contextlib.asynccontextmanager
async def watching_policy(holder: PolicyHolder, interval: float = 1.0) -> AsyncIterator[None]:
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(holder.watch(interval), name="policy-watch")
    pending: set[asyncio.Task[bool]] = set()

    def on_sighup() -> None:
        reload = asyncio.create_task(holder.reload("SIGHUP"))
        pending.add(reload)
        reload.add_done_callback(pending.discard)

    # Signal handlers exist only in the main thread (not when embedded, e.g. in tests).
    with contextlib.suppress(RuntimeError, ValueError, NotImplementedError):
        loop.add_signal_handler(signal.SIGHUP, on_sighup)
    try:
        yield
    finally:
        with contextlib.suppress(RuntimeError, ValueError, NotImplementedError):
            loop.remove_signal_handler(signal.SIGHUP)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
