"""Idempotency keys on generation requests: a retry gets the first answer, not a second job.

A key is scoped to the principal and the route target that used it, and remembers a
fingerprint of the request it first came with: the same key on a different request is
a client bug, refused rather than guessed at.
"""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass, field

from gateway.core.errors import BadRequest, GatewayError

HEADER = "Idempotency-Key"
# How long a key is remembered: long enough for any client's retry schedule.
RETENTION_SECONDS = 86_400.0
# How long a claim may stay in progress: far longer than any request takes, so that a
# claim left behind by a crashed process blocks retries for minutes, not for a day.
IN_PROGRESS_SECONDS = 600.0

_KEY = re.compile(r"[\x20-\x7e]{1,255}")


class IdempotencyState(enum.StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """What the store remembers of a key: the request it came with and, once known, the
    model API's answer to it."""

    fingerprint: str
    state: IdempotencyState
    status: int | None
    content_type: str | None
    body: bytes | None = field(repr=False)
    expires_at: float


class IdempotencyConflict(GatewayError):
    """The key cannot be used for this request now; the code says why."""

    status = 409
    code = "idempotency_key_conflict"
    type = "invalid_request_error"


class IdempotencyKeyReused(IdempotencyConflict):
    code = "idempotency_key_reused"

    def __init__(self) -> None:
        super().__init__(
            "This Idempotency-Key was already used with a different request; "
            "use a new key for a new request.",
            param=HEADER,
        )


class IdempotencyKeyInUse(IdempotencyConflict):
    code = "idempotency_key_in_use"

    def __init__(self) -> None:
        super().__init__(
            "A request with this Idempotency-Key is still being processed; retry shortly.",
            param=HEADER,
        )


def validate_key(value: str) -> str:
    """The key as given, if it is 1-255 printable ASCII characters; else a 400."""
    if _KEY.fullmatch(value) is None:
        raise BadRequest(
            "The Idempotency-Key header must be 1 to 255 printable ASCII characters.",
            param=HEADER,
        )
    return value


def scoped_key(target: str, key: str) -> str:
    """The key as stored: one client's key on one route target is unrelated to another's."""
    # A request target never holds a line break and neither does a valid key.
    return f"{target}\n{key}"


def fingerprint(method: str, target: str, body: bytes) -> str:
    """The SHA-256 of what makes two requests the same request, as hex."""
    digest = hashlib.sha256()
    digest.update(method.encode("latin-1"))
    digest.update(b"\n")
    digest.update(target.encode("latin-1"))
    digest.update(b"\n")
    digest.update(body)
    return digest.hexdigest()


def replayable(record: IdempotencyRecord, request_fingerprint: str) -> IdempotencyRecord:
    """The completed record whose answer a retry gets; a conflict for anything else."""
    if record.fingerprint != request_fingerprint:
        raise IdempotencyKeyReused()
    if record.state is not IdempotencyState.COMPLETED or record.status is None:
        raise IdempotencyKeyInUse()
    return record
