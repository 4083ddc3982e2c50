"""Client credentials and token ids."""

from __future__ import annotations

import base64

import pytest

from gateway.core.credentials import (
    basic_credentials_readable,
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


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Basic " + base64.b64encode(b"pgc_1:pgs_secret").decode(),
        "basic " + base64.b64encode("clien\u00e9:s".encode()).decode(),
        "Bearer anything at all",
    ],
)
def test_readable_basic_credentials(header: str | None) -> None:
    """Basic credentials in base64 of UTF-8 read; other schemes are not judged here."""
    assert basic_credentials_readable(header)


@pytest.mark.parametrize(
    "header",
    [
        "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),  # not UTF-8 once decoded
        "Basic \u00e9\u00e9",  # not base64 at all: what a Latin-1 header reads as
        "Basic !!!",
        "Basic cGdjXw",  # base64 without its padding
    ],
)
def test_unreadable_basic_credentials(header: str) -> None:
    """Basic credentials that do not decode to UTF-8 text are unreadable, not a failure."""
    assert not basic_credentials_readable(header)
