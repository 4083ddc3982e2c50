"""Idempotency keys on generation requests: a retry gets the first answer, not a second job.

A key is scoped to the principal and the route target that used it, and remembers a
fingerprint of the request it first came with: the same key on a different request is
a client bug, refused rather than guessed at.

The fingerprint is of the request's meaning, not its bytes: the parsed request in a
canonical form, so that a client that rebuilds its body for a retry (a fresh multipart
boundary, JSON keys in another order, JSON where it sent a form) is recognised. What
counts as the same value:
- text is compared exactly, character for character (no normalisation);
- `seconds` is read as a number, as the policy and the model API read it: `8`, `"8"`
  and `"8.0"` are one meaning (a form field can only send text, JSON may send either);
- any other number is compared by value (`1` and `1.0` are one meaning), and is never
  the same as text (`1` is not `"1"`); `true`, `false` and `null` are themselves;
- a reference image (a multipart file or a JSON data URL) by the SHA-256 of its bytes
  with its type (the part's declared type; a data URL's checked type), so the same
  image sent either way is one meaning; an https URL and a file id as given.
"""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from gateway.core.errors import BadRequest, GatewayError
from gateway.core.policy.request import (
    GenerationRequest,
    InputReference,
    ParamValue,
    ReferenceSource,
)

HEADER = "Idempotency-Key"
# How long a key is remembered: long enough for any client's retry schedule.
RETENTION_SECONDS = 86_400.0
# How long a claim may stay in progress: far longer than any request takes, so that a
# claim left behind by a crashed process blocks retries for minutes, not for a day.
IN_PROGRESS_SECONDS = 600.0

_KEY = re.compile(r"[\x20-\x7e]{1,255}")
# Parameters the gateway and the model API read as numbers whichever way they are sent.
NUMERIC_PARAMS = frozenset({"seconds"})
_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


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
            # OpenAI's SDKs retry every 409 unless told not to; this one never changes.
            headers={"X-Should-Retry": "false"},
        )


class IdempotencyKeyInUse(IdempotencyConflict):
    code = "idempotency_key_in_use"

    def __init__(self) -> None:
        super().__init__(
            "A request with this Idempotency-Key is still being processed; retry shortly.",
            param=HEADER,
            headers={"Retry-After": "1"},
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


def fingerprint(method: str, target: str, request: GenerationRequest) -> str:
    """The SHA-256 (hex) of what makes two generation requests the same request: the
    method, the route target and the parsed request in canonical form."""
    canonical = {
        "method": method,
        "target": target,
        "remix": request.is_remix,
        "model": request.model,
        "prompt": request.prompt,
        "params": {name: _value(name, value) for name, value in request.params.items()},
        "input_reference": _reference(request.input_reference),
    }
    return hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _value(name: str, value: ParamValue) -> list[Any]:
    """A parameter's value, tagged with its kind so that text and numbers stay apart."""
    if isinstance(value, bool) or value is None:
        return ["literal", value]
    if isinstance(value, int | float):
        return ["number", _number(Decimal(str(value)))]
    if name in NUMERIC_PARAMS and _DECIMAL.fullmatch(value):
        return ["number", _number(Decimal(value))]
    return ["text", value]


def _number(value: Decimal) -> str:
    # normalize() drops trailing zeros (8.0 -> 8); "f" spells it without an exponent.
    return format(value.normalize(), "f")


def _reference(reference: InputReference | None) -> list[Any] | None:
    if reference is None:
        return None
    if reference.source is ReferenceSource.URL:
        return ["url", reference.url]
    if reference.source is ReferenceSource.FILE_ID:
        return ["file_id", reference.file_id]
    content_type = reference.content_type.strip().lower() if reference.content_type else None
    return ["image", reference.sha256, content_type]


def replayable(record: IdempotencyRecord, request_fingerprint: str) -> IdempotencyRecord:
    """The completed record whose answer a retry gets; a conflict for anything else."""
    if record.fingerprint != request_fingerprint:
        raise IdempotencyKeyReused()
    if record.state is not IdempotencyState.COMPLETED or record.status is None:
        raise IdempotencyKeyInUse()
    return record
