"""Client credentials and token ids."""

from __future__ import annotations

from gateway.core.credentials import (
    hash_secret,
    new_client_id,
    new_secret,
    new_token_id,
    secret_matches,
)


def test_token_ids_are_safe_on_a_command_line() -> None:
    """A jti never starts with '-', so `phasegate revoke --jti ID` always parses."""
    ids = [new_token_id() for _ in range(2000)]
    assert not any(token_id.startswith("-") for token_id in ids)
    assert len(set(ids)) == len(ids)


def test_secrets_match_only_their_hash() -> None:
    """A secret matches its own hash and no other secret does; the hash hides the secret."""
    secret, other = new_secret(), new_secret()
    stored = hash_secret(secret)
    assert secret not in stored
    assert secret_matches(secret, stored)
    assert not secret_matches(other, stored)
    assert new_client_id() != new_client_id()
