"""Admin operations on the shared state, shared by the CLI, the demo and the tests."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from gateway.core.audit.chain import es256_signer
from gateway.core.credentials import hash_secret, new_client_id, new_secret
from gateway.core.identity import Grant, StoredKey, principal_problem
from gateway.core.keys import KeyRing, new_key, retirements
from gateway.ports.audit import AuditUnavailable, open_audit_sink
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


async def rotate_keys(
    store: Store, *, now: float, longest_token_lifetime: float
) -> tuple[StoredKey, dict[str, float]]:
    """A new signing key, and when each current one retires: once its tokens have expired."""
    current = await store.keys()
    fresh = new_key(now)
    await store.add_key(fresh)
    retiring = retirements(current, now, longest_token_lifetime)
    for kid, retire_at in retiring.items():
        await store.schedule_retirement(kid, retire_at)
    return fresh, retiring


async def record_admin_event(
    store: Store, audit_url: str, record: dict[str, Any], *, now: float
) -> None:
    """Append one admin event to the audit log as a writer of its own (a new segment,
    sealed at once with a checkpoint signed by the gateway's current key)."""
    ring = KeyRing.from_stored(await store.keys(), now)
    if ring.signing is None:
        # A fresh store has no key until a gateway starts; the checkpoint needs one now.
        await store.add_key(new_key(now))
        ring = KeyRing.from_stored(await store.keys(), now)
    signer = es256_signer(ring.signing.kid, ring.signing.private) if ring.signing else None
    # With stdout://, a command's own output (e.g. `grant --json`) keeps stdout: its
    # audit lines go to standard error, where a collector of the command's logs reads.
    sink = open_audit_sink(audit_url, signer=signer, stdout_fd=sys.stderr.fileno())
    try:
        await sink.append(record)
    except AuditUnavailable as exc:
        raise Refused(
            f"the change was made, but the audit log could not record it: {exc}"
        ) from None
    finally:
        await sink.close()
