"""Freeing a finished job's concurrency slot: the store hands its lease binding to exactly
one taker, who releases it in the limiter.

Whoever sees a job end calls this: the request path on a read, a download, a listing or
a delete, and the lease reconciler on the model API's answer. A job that ended stays
ended, so ids already freed are remembered and never asked about again.
"""

from __future__ import annotations

from collections import OrderedDict

import structlog

from gateway.ports.limiter import Limiter, LimiterUnavailable
from gateway.ports.store import Store

_log = structlog.get_logger("phasegate.limits")


class LeaseRelease:
    def __init__(self, store: Store, limiter: Limiter, *, cache_size: int = 50_000) -> None:
        self._store = store
        self._limiter = limiter
        self._cache_size = cache_size
        self._ended: OrderedDict[str, None] = OrderedDict()

    async def job_ended(self, job_id: str) -> bool:
        """Free the slot of a job seen in a terminal state (or gone); True if this call
        freed it. Raises `StoreUnavailable`; a limiter that cannot be reached leaves the
        lease to expire on its own."""
        if job_id in self._ended:
            return False
        lease = await self._store.take_lease(job_id)
        self._ended[job_id] = None
        if len(self._ended) > self._cache_size:
            self._ended.popitem(last=False)
        if lease is None:
            return False
        lease_id, keys = lease
        try:
            await self._limiter.release(keys, lease_id)
        except LimiterUnavailable:
            _log.warning("lease_left_to_expire", job_id=job_id)
            return False
        return True
