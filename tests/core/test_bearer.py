"""Reading the Bearer credential out of an Authorization header (RFC 6750 section 2.1)."""

from __future__ import annotations

import pytest

from gateway.core.bearer import MAX_AUTHORIZATION_BYTES, bearer_token
from gateway.core.errors import InvalidToken

TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln"
NOT_BEARER = "Only Bearer access tokens are accepted."
MALFORMED = "The Bearer credential is malformed."
TOO_LARGE = "The Authorization header is too large."


def _refusal(header: str) -> InvalidToken:
    with pytest.raises(InvalidToken) as refused:
        bearer_token(header)
    assert refused.value.code == "invalid_token"
    assert dict(refused.value.headers) == {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    return refused.value


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_scheme_is_case_insensitive(scheme: str) -> None:
    """The scheme name matches in any letter case."""
    assert bearer_token(f"{scheme} {TOKEN}") == TOKEN


@pytest.mark.parametrize(
    "header",
    [f"  Bearer {TOKEN}", f"Bearer {TOKEN}  ", f" Bearer {TOKEN} ", f"Bearer    {TOKEN}"],
)
def test_surrounding_spaces_are_ignored(header: str) -> None:
    """Spaces around the credential and between scheme and token do not matter."""
    assert bearer_token(header) == TOKEN


@pytest.mark.parametrize(
    "header",
    [
        "Basic cGdjXzE6cGdzX3NlY3JldA==",
        f"Token {TOKEN}",
        f"JWT {TOKEN}",
        f"Bearer: {TOKEN}",
        f"Bearerx {TOKEN}",
        f"Bear {TOKEN}",
        TOKEN,
        f"Bearer\t{TOKEN}",
        f"Bearer,{TOKEN}",
    ],
)
def test_other_schemes_are_refused(header: str) -> None:
    """Anything but the Bearer scheme followed by a space is refused, Basic included."""
    assert _refusal(header).message == NOT_BEARER


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "bearer    ", "  Bearer  "])
def test_empty_token_is_refused(header: str) -> None:
    """The Bearer scheme with no token is refused as malformed."""
    assert _refusal(header).message == MALFORMED


@pytest.mark.parametrize("header", ["", "   "])
def test_empty_header_is_refused(header: str) -> None:
    """An empty Authorization header names no scheme and is refused."""
    assert _refusal(header).message == NOT_BEARER


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer {TOKEN} {TOKEN}",
        f"Bearer {TOKEN[:10]} {TOKEN[10:]}",
        f"Bearer {TOKEN}, Bearer {TOKEN}",
        f"Bearer {TOKEN}  extra",
    ],
)
def test_token_with_inner_spaces_is_refused(header: str) -> None:
    """A credential with spaces inside the token (two tokens, a split token) is refused."""
    assert _refusal(header).message == MALFORMED


def test_header_at_the_limit_is_read() -> None:
    """A header of exactly 8 KiB is still read."""
    token = "a" * (MAX_AUTHORIZATION_BYTES - len("Bearer "))
    assert MAX_AUTHORIZATION_BYTES == 8 * 1024
    assert bearer_token(f"Bearer {token}") == token


@pytest.mark.parametrize("header", ["Bearer " + "a" * 8186, "Basic " + "a" * 10_000])
def test_header_over_8_kib_is_refused(header: str) -> None:
    """A header over 8 KiB is refused for its size before its scheme is even read."""
    assert len(header) > 8 * 1024
    assert _refusal(header).message == TOO_LARGE


def test_oversized_padding_is_refused() -> None:
    """A valid-looking credential padded past 8 KiB with surrounding spaces is still refused."""
    header = f"Bearer {TOKEN}" + " " * MAX_AUTHORIZATION_BYTES
    assert _refusal(header).message == TOO_LARGE
