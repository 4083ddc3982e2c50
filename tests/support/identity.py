"""Credentials for end-to-end tests, made the way an admin makes them."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from gateway.edges.admin import grant_tier
from gateway.ports.store import SqliteStore
from tests.support.secrets_sweep import SWEEP

TIERS = frozenset({"invited_artists", "studios", "public"})


@dataclass(frozen=True)
class Credential:
    principal: str
    tier: str
    client_id: str
    client_secret: str


def grant(
    state_file: Path,
    principal: str,
    tier: str = "invited_artists",
    ttl: float | None = None,
    known_tiers: frozenset[str] = TIERS,
) -> Credential:
    """Grants a tier through a second connection to the gateway's state file, as the CLI does."""

    async def create() -> Credential:
        store = SqliteStore(state_file)
        try:
            issued = await grant_tier(
                store, principal, tier, known_tiers=known_tiers, now=time.time(), ttl=ttl
            )
        finally:
            await store.close()
        SWEEP.add_secret("client secret", issued.client_secret)
        return Credential(principal, tier, issued.grant.client_id, issued.client_secret)

    return asyncio.run(create())


def access_token(base_url: str, credential: Credential) -> str:
    response = httpx.post(
        f"{base_url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(credential.client_id, credential.client_secret),
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    SWEEP.add_token(token)
    return token
