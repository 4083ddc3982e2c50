"""Idempotency keys: which keys are valid, how they are scoped, when to replay.

What makes two requests the same request is in test_idempotency_fingerprint.py."""

from __future__ import annotations

import pytest

from gateway.core.errors import BadRequest, GatewayError
from gateway.core.idempotency import (
    HEADER,
    IdempotencyConflict,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    IdempotencyRecord,
    IdempotencyState,
    replayable,
    scoped_key,
    validate_key,
)


def _record(state: IdempotencyState, fingerprint_: str = "f1") -> IdempotencyRecord:
    completed = state is IdempotencyState.COMPLETED
    return IdempotencyRecord(
        fingerprint=fingerprint_,
        state=state,
        status=200 if completed else None,
        content_type="application/json" if completed else None,
        body=b'{"id": "video_1"}' if completed else None,
        expires_at=1000.0,
    )


@pytest.mark.parametrize("key", ["a", "x" * 255, "order-42:retry 1", "!~", "A" * 100])
def test_valid_keys_are_returned_as_given(key: str) -> None:
    """One to 255 printable ASCII characters make a key."""
    assert validate_key(key) == key


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\there", "nl\nhere", "\x7f"])
def test_invalid_keys_are_a_bad_request_naming_the_header(key: str) -> None:
    """Empty, overlong, non-ASCII or control-character keys get 400 with param set."""
    with pytest.raises(BadRequest) as refused:
        validate_key(key)
    assert refused.value.status == 400
    assert refused.value.param == HEADER


def test_keys_are_scoped_by_target() -> None:
    """The same key on two route targets is stored as two keys."""
    assert scoped_key("/v1/videos", "k") != scoped_key("/v1/videos/video_1/remix", "k")
    assert scoped_key("/v1/videos", "k") == scoped_key("/v1/videos", "k")


def test_a_completed_record_with_the_same_fingerprint_is_replayed() -> None:
    """A retry of the same request gets the kept record back."""
    record = _record(IdempotencyState.COMPLETED)
    assert replayable(record, "f1") is record


@pytest.mark.parametrize("state", list(IdempotencyState))
def test_a_different_fingerprint_is_a_reused_key(state: IdempotencyState) -> None:
    """The same key on a different request is refused, whatever the key's state."""
    with pytest.raises(IdempotencyKeyReused) as refused:
        replayable(_record(state), "f2")
    assert refused.value.code == "idempotency_key_reused"


def test_a_claim_in_progress_is_a_key_in_use() -> None:
    """A retry while the first request is still running is told to wait."""
    with pytest.raises(IdempotencyKeyInUse) as refused:
        replayable(_record(IdempotencyState.IN_PROGRESS), "f1")
    assert refused.value.code == "idempotency_key_in_use"
    assert "still being processed" in refused.value.message


def test_conflicts_are_409_invalid_request_errors() -> None:
    """Both conflicts are gateway errors with status 409 and type invalid_request_error."""
    for error in (IdempotencyKeyReused(), IdempotencyKeyInUse()):
        assert isinstance(error, IdempotencyConflict)
        assert isinstance(error, GatewayError)
        assert error.status == 409
        assert error.type == "invalid_request_error"
        assert error.param == HEADER


def test_conflicts_tell_clients_whether_a_retry_can_help() -> None:
    """A reused key never succeeds (no retry); a key in use may, after a second."""
    assert IdempotencyKeyReused().headers == {"X-Should-Retry": "false"}
    assert IdempotencyKeyInUse().headers == {"Retry-After": "1"}
