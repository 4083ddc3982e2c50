"""Small builders for store records, with fixed timestamps so no test depends on the clock."""

from __future__ import annotations

from gateway.core.identity import Grant, OwnedJob, StoredKey


def make_grant(
    client_id: str,
    principal: str = "alice",
    *,
    created_at: float = 100.0,
    expires_at: float | None = None,
    revoked_at: float | None = None,
) -> Grant:
    return Grant(
        principal=principal,
        tier="preview",
        client_id=client_id,
        secret_hash=f"hash-of-{client_id}",
        created_at=created_at,
        expires_at=expires_at,
        revoked_at=revoked_at,
    )


def make_key(kid: str, *, created_at: float = 100.0, retire_at: float | None = None) -> StoredKey:
    pem = f"-----BEGIN PRIVATE KEY-----\n{kid}\n-----END PRIVATE KEY-----\n".encode()
    return StoredKey(kid=kid, private_pem=pem, created_at=created_at, retire_at=retire_at)


def make_job(job_id: str, principal: str = "alice", *, created_at: float = 100.0) -> OwnedJob:
    return OwnedJob(job_id=job_id, principal=principal, created_at=created_at)
