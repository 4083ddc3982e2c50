"""Idempotency-Key on generation requests: a retry gets the first answer and consumes nothing.

The first request with a key claims it; the model API's answer is then kept for the key,
or the claim is given up when there was no usable answer, so that the client may retry.
A retry of a kept answer is replied to here, before any later step (limits, policy)
runs, so it reserves nothing and reaches nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson
import structlog

from gateway.core.errors import InternalError, MissingToken
from gateway.core.idempotency import (
    IN_PROGRESS_SECONDS,
    RETENTION_SECONDS,
    fingerprint,
    replayable,
    scoped_key,
    validate_key,
)
from gateway.core.policy import GenerationRequest
from gateway.edges.http.pipeline import Exchange, Outcome, PassiveStep, Reply
from gateway.edges.http.steps.generation_request import REQUEST
from gateway.edges.http.steps.ownership import store_failures_refused
from gateway.ports.store import Store, StoreUnavailable

_log = structlog.get_logger("phasegate.idempotency")

_NOTE = "idempotency"
REPLAYED_HEADER = ("Idempotent-Replayed", "true")
# Answers that say "not now" rather than "not this": keeping them would refuse every retry.
_RETRYABLE_CLIENT_ERRORS = frozenset({408, 429})


@dataclass(frozen=True, slots=True)
class _Claim:
    principal: str
    key: str


class Idempotency(PassiveStep):
    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock

    async def before(self, exchange: Exchange) -> Reply | None:
        if not exchange.route.kind.is_generation:
            return None
        given = exchange.header("idempotency-key")
        if given is None:
            return None
        caller = exchange.caller
        if caller is None:
            raise MissingToken()
        key = scoped_key(exchange.target, validate_key(given))
        parsed: GenerationRequest = exchange.notes[REQUEST]
        request = fingerprint(exchange.method, exchange.target, parsed)
        now = self._clock()
        with store_failures_refused():
            record = await self._store.claim_idempotency(
                caller.subject, key, request, now, now + IN_PROGRESS_SECONDS
            )
        if record is None:
            exchange.notes[_NOTE] = _Claim(caller.subject, key)
            return None
        kept = replayable(record, request)
        try:
            document = orjson.loads(kept.body or b"")
        except orjson.JSONDecodeError:
            # Only JSON answers are kept, so this is a damaged record, not a client error.
            raise InternalError("The answer kept for this Idempotency-Key is unreadable.") from None
        return Reply(kept.status or 500, document, (REPLAYED_HEADER,))

    async def after(self, exchange: Exchange, outcome: Outcome) -> None:
        claim: _Claim | None = exchange.notes.pop(_NOTE, None)
        if claim is None:
            return
        if not _keepable(outcome):
            await self._release(exchange, claim)
            return
        content_type = _header(outcome.headers, "content-type") or "application/json"
        try:
            await self._store.complete_idempotency(
                claim.principal,
                claim.key,
                outcome.status,
                content_type,
                outcome.body or b"",
                expires_at=self._clock() + RETENTION_SECONDS,
            )
        except StoreUnavailable as exc:
            # The caller still gets its answer; the claim lapses with the key instead.
            _log.warning("idempotency_not_kept", request_id=exchange.request_id, reason=str(exc))

    async def failed(self, exchange: Exchange) -> None:
        claim: _Claim | None = exchange.notes.pop(_NOTE, None)
        if claim is not None:
            await self._release(exchange, claim)

    async def _release(self, exchange: Exchange, claim: _Claim) -> None:
        try:
            await self._store.release_idempotency(claim.principal, claim.key)
        except StoreUnavailable as exc:
            # Never mask the answer or the refusal under way; retries see the key in use.
            _log.warning(
                "idempotency_not_released", request_id=exchange.request_id, reason=str(exc)
            )


def _keepable(outcome: Outcome) -> bool:
    """Whether a retry should get this answer again rather than run the request anew."""
    if outcome.status >= 500 or outcome.status in _RETRYABLE_CLIENT_ERRORS:
        return False
    try:
        orjson.loads(outcome.body or b"")
    except orjson.JSONDecodeError:
        return False
    return True


def _header(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None
