"""Admin operations on the shared state, shared by the CLI, the demo and the tests."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core.credentials import hash_secret, new_client_id, new_secret
from gateway.core.identity import Grant, StoredKey, principal_problem
from gateway.core.keys import new_key, retirements
from gateway.ports.store import Store


class Refused(ValueError):
    """The admin asked for something that cannot be done; exit status 1."""


@dataclass(frozen=True, slots=True)
class IssuedCredential:
    grant: Grant
    client_secret: str


async def grant_tier(
    store: Store,
    principal: str,
    tier: str,
    *,
    known_tiers: frozenset[str],
    now: float,
    ttl: float | None = None,
) -> IssuedCredential:
    problem = principal_problem(principal)
    if problem is not None:
        raise Refused(f"invalid principal {principal!r}: {problem}")
    if tier not in known_tiers:
        known = ", ".join(sorted(known_tiers)) or "none"
        raise Refused(f"unknown tier {tier!r}; the policies declare: {known}")
    secret = new_secret()
    grant = Grant(
        principal=principal,
        tier=tier,
        client_id=new_client_id(),
        secret_hash=hash_secret(secret),
        created_at=now,
        expires_at=now + ttl if ttl is not None else None,
    )
    await store.add_grant(grant)
    return IssuedCredential(grant, secret)


async def rotate_keys(store: Store, *, now: float, longest_token_lifetime: float) -> StoredKey:
    """A new signing key; the current ones verify until the tokens they signed expire."""
    current = await store.keys()
    fresh = new_key(now)
    await store.add_key(fresh)
    for kid, retire_at in retirements(current, now, longest_token_lifetime).items():
        await store.schedule_retirement(kid, retire_at)
    return fresh
