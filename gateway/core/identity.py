"""Who may call: grants of a tier to a principal, and what revokes them.

Pure records and decisions; the store keeps them, the edges ask these questions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Grant:
    """A tier granted to a principal, held as one OAuth2 client credential."""

    principal: str
    tier: str
    client_id: str
    secret_hash: str = field(repr=False)
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None

    def usable_at(self, now: float) -> bool:
        if self.revoked_at is not None and self.revoked_at <= now:
            return False
        return self.expires_at is None or now < self.expires_at


@dataclass(frozen=True, slots=True)
class RevocationView:
    """Everything a token check needs to know about revocation, at one moment.

    Built from the store whenever it changes, so that checking a token on the hot
    path is two dictionary lookups rather than a round trip.
    """

    grants: Mapping[str, Grant]
    revoked_jtis: frozenset[str]
    revision: int = 0

    def refusal(self, client_id: str, principal: str, jti: str, now: float) -> str | None:
        """Why a token with these claims must be refused now, or None if it may pass."""
        grant = self.grants.get(client_id)
        if grant is None:
            return "the token's client is unknown"
        if grant.principal != principal:
            return "the token's subject does not hold its client"
        if grant.revoked_at is not None and grant.revoked_at <= now:
            return "the grant was revoked"
        if grant.expires_at is not None and now >= grant.expires_at:
            return "the grant has expired"
        if jti in self.revoked_jtis:
            return "the token was revoked"
        return None


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A token signing key as stored: private PEM, and when it stops verifying."""

    kid: str
    private_pem: bytes = field(repr=False)
    created_at: float
    retire_at: float | None = None

    def verifies_at(self, now: float) -> bool:
        return self.retire_at is None or now < self.retire_at


@dataclass(frozen=True, slots=True)
class PhaseChange:
    phase: str
    actor: str
    changed_at: float


@dataclass(frozen=True, slots=True)
class OwnedJob:
    job_id: str
    principal: str
    created_at: float


# How long after a job's creation the lease reconciler first asks the model API about it,
# unless the gateway saw the job end before (the default of `--reconcile-after`).
RECONCILE_AFTER_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class JobLease:
    """The limiter lease a job holds, kept with the job so that whichever replica sees
    the job end can free its concurrency slot."""

    lease_id: str
    keys: tuple[str, ...]
    # The lease's own lifetime in the limiter: past it, the binding frees nothing.
    ttl: float
    # Seconds after the job's creation when the reconciler first checks on it.
    reconcile_after: float = RECONCILE_AFTER_SECONDS


_PRINCIPAL_CHARACTERS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@:+-"
)


def principal_problem(principal: str) -> str | None:
    """Why a principal name is unusable (it travels in headers and logs), or None."""
    if not 1 <= len(principal) <= 128:
        return "a principal is 1 to 128 characters long"
    if not set(principal) <= _PRINCIPAL_CHARACTERS:
        return "a principal may hold only letters, digits and . _ @ : + -"
    return None
