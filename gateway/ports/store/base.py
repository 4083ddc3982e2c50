"""The state store: grants, keys, revocations, job ownership, reviews and the rollout phase.

One protocol, adapters beside it (SQLite embedded; Redis at scale). Every method
is a single atomic operation against shared state that several gateway processes
and the admin CLI use at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from typing import Protocol, runtime_checkable

from gateway.core.idempotency import IdempotencyRecord
from gateway.core.identity import (
    Grant,
    JobLease,
    OwnedJob,
    PhaseChange,
    RevocationView,
    StoredKey,
)
from gateway.core.limits import LimitCheck
from gateway.core.review import HeldRequest
from gateway.core.review_state import Review, ReviewMove, ReviewState, ReviewTransition


class StoreUnavailable(Exception):
    """The store could not be reached or answered in time; the caller picks the fail mode."""


@runtime_checkable
class ChangeFeed(Protocol):
    """A store that announces admin changes as they happen, so that gateways reload at
    once instead of at their next look at `revision()`."""

    def changes(self) -> AsyncIterator[int]:
        """The revision when subscribed, then each revision an admin change makes.

        Raises `StoreUnavailable` once the subscription breaks; subscribe again then (the
        first item tells what was missed meanwhile).
        """
        ...


class Store(Protocol):
    # Grants and revocation
    async def add_grant(self, grant: Grant) -> None: ...

    async def grant(self, client_id: str) -> Grant | None: ...

    async def grants(self) -> list[Grant]:
        """Every grant, oldest first, revoked ones included."""
        ...

    async def revoke_principal(self, principal: str, at: float) -> int:
        """Revoke every live grant of the principal; the number revoked."""
        ...

    async def revoke_client(self, client_id: str, at: float) -> bool:
        """Revoke one grant; False if it is unknown or already revoked."""
        ...

    async def revoke_token(self, jti: str, expires_at: float, at: float) -> None:
        """Refuse one token until it would have expired anyway."""
        ...

    async def revocation_view(self, now: float) -> RevocationView:
        """Grants and the revoked token ids that have not expired yet, at `revision()`."""
        ...

    async def revision(self) -> int:
        """A number that changes whenever grants, revocations, keys or the phase change."""
        ...

    # Signing keys
    async def add_key(self, key: StoredKey) -> None: ...

    async def keys(self) -> list[StoredKey]:
        """Every key, oldest first, retired ones included."""
        ...

    async def schedule_retirement(self, kid: str, retire_at: float) -> bool:
        """Set when a key stops verifying (earlier only, never later); False if unknown."""
        ...

    # Job ownership
    async def record_job(self, job: OwnedJob, *, lease: JobLease | None = None) -> None:
        """Remember who created a job; recording the same job id twice keeps the first.

        With `lease`, also remember which limiter lease the job holds (the first binding
        wins), in the same atomic write: one round trip for both on the request path.
        A store may forget the binding once the lease's `ttl` has passed.
        """
        ...

    async def job_owner(self, job_id: str) -> str | None: ...

    async def owned_jobs(
        self, principal: str, *, after: str | None, limit: int, newest_first: bool
    ) -> list[OwnedJob]:
        """A page of the principal's jobs in creation order, starting after job `after`."""
        ...

    async def forget_job(self, job_id: str) -> None: ...

    # Held generation requests and their reviews

    async def hold_request(
        self,
        held: HeldRequest,
        *,
        expires_at: float,
        request_id: str | None = None,
        charges: Sequence[LimitCheck] = (),
    ) -> None:
        """Keep a held request (body included) durably, with its review pending until
        `expires_at`, and the rate and cost checks it was charged (given back if it ends
        without a job). ValueError if the video id is taken."""
        ...

    async def held_request(self, video_id: str) -> HeldRequest | None: ...

    async def review(self, video_id: str) -> Review | None: ...

    async def reviews(self, states: Collection[ReviewState]) -> list[Review]:
        """The reviews in any of `states`, oldest first."""
        ...

    async def move_review(self, video_id: str, transition: ReviewTransition) -> ReviewMove:
        """Apply the transition if the review is still in its source state (compare and
        set): of concurrent transitions from one state, exactly one wins. The review as
        it stands afterwards comes back either way."""
        ...

    async def due_reviews(self, now: float) -> list[Review]:
        """What a gateway has to act on, oldest first: pending reviews past their expiry,
        approved and submitting ones, and ended ones whose reservation is still owed."""
        ...

    async def settle_review(self, video_id: str) -> tuple[LimitCheck, ...] | None:
        """Mark a review that ended without a job (rejected, expired, failed) as settled and
        return what it was charged, for the caller to give back: of several callers,
        exactly one gets it; None for the others and for reviews in any other state."""
        ...

    # Idempotency keys: written on generation requests, so they never move the revision.

    async def claim_idempotency(
        self, principal: str, key: str, fingerprint: str, now: float, expires_at: float
    ) -> IdempotencyRecord | None:
        """Atomically claim an unused key (None), or the record that holds it unexpired.

        A claim is `in_progress` until completed or released; expired records count as
        absent and may be pruned by any call.
        """
        ...

    async def complete_idempotency(
        self,
        principal: str,
        key: str,
        status: int,
        content_type: str,
        body: bytes,
        *,
        expires_at: float,
    ) -> None:
        """Store the answer to the request holding an `in_progress` claim on the key, and
        keep it until `expires_at` (a claim in progress lives only as long as a request)."""
        ...

    async def release_idempotency(self, principal: str, key: str) -> None:
        """Give up an `in_progress` claim, so a retry runs anew; completed keys stay."""
        ...

    # Concurrency leases of jobs (bound by `record_job`), so that any replica seeing a job
    # end can free its slot

    async def take_lease(self, job_id: str) -> tuple[str, tuple[str, ...]] | None:
        """Remove and return a job's lease: of several callers, exactly one gets it."""
        ...

    async def claim_due_leases(self, now: float, *, until: float, limit: int) -> list[str]:
        """The job ids of bound leases whose check is due at `now` (first due at the job's
        creation plus the lease's `reconcile_after`), at most `limit` (those due longest);
        each one's next check moves to `until` in the same atomic step, so that another
        caller skips it meanwhile. Bindings past their lease's `ttl` are dropped, never
        returned (their lease frees nothing any more)."""
        ...

    # Rollout phase
    async def phase(self) -> str | None:
        """The current phase, or None while nobody has set one."""
        ...

    async def set_phase(self, change: PhaseChange) -> None: ...

    async def phase_history(self) -> list[PhaseChange]:
        """Every change, oldest first."""
        ...

    async def close(self) -> None: ...
