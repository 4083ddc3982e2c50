"""The audit trail: a generation request is durably recorded before the model sees it.

The write-ahead record is appended (written and fsynced, shared with concurrent
requests by group commit) before the request goes on; if the sink cannot take it, the
request is refused with 503 and never forwarded. The outcome, refusals and job
accesses follow as records of their own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import structlog

from gateway.core.audit import records
from gateway.core.errors import (
    AuditUnavailableError,
    GatewayError,
    MissingToken,
)
from gateway.core.policy import Decision, GenerationRequest
from gateway.core.routes import RouteKind
from gateway.edges.http.decisions import admitted_decision, refusal_decision
from gateway.edges.http.pipeline import Exchange, Outcome, PassiveStep, Reply
from gateway.ports.audit import AuditSink, AuditUnavailable

_log = structlog.get_logger("phasegate.audit")
_JOB_ACTIONS = {
    RouteKind.READ_VIDEO: "read",
    RouteKind.DOWNLOAD_VIDEO: "download",
    RouteKind.DELETE_VIDEO: "delete",
}


class AuditTrail(PassiveStep):
    def __init__(self, sink: AuditSink, clock: Callable[[], float]) -> None:
        self._sink = sink
        self._clock = clock
        self._pending: set[asyncio.Task[None]] = set()

    async def before(self, exchange: Exchange) -> Reply | None:
        if not exchange.route.kind.is_generation or exchange.caller is None:
            return None
        request: GenerationRequest = exchange.notes["request"]
        decision: Decision = exchange.notes["decision"]
        caller = exchange.caller
        record = records.generation_request(
            time=self._clock(),
            request_id=exchange.request_id,
            principal=caller.subject,
            client_id=caller.client_id,
            tier=caller.tier,
            phase=exchange.notes.get("phase"),
            client_address=exchange.client_host,
            method=exchange.method,
            route=exchange.route.template,
            model=request.model,
            prompt=request.prompt,
            params=dict(request.params),
            input_reference=request.input_reference,
            decision=admitted_decision(exchange),
            rules=decision.hits,
            policy_version=decision.policy_version,
            limits=exchange.notes.get("limit_states"),
            moderation=exchange.notes.get("moderation"),
        )
        try:
            await self._sink.append(record)
        except AuditUnavailable:
            raise AuditUnavailableError(
                "The audit log cannot record this request, so it is not forwarded."
            ) from None
        exchange.notes["audited"] = True
        return None

    async def after(self, exchange: Exchange, outcome: Outcome) -> None:
        caller, kind = exchange.caller, exchange.route.kind
        if caller is None:
            return
        if exchange.notes.get("audited"):
            held = "hold" in exchange.notes
            record = self._outcome(
                exchange,
                upstream_status=None if held else outcome.status,
                job_id=outcome.job_id,
                response_bytes=len(outcome.body) if outcome.body is not None else None,
                review_id=outcome.job_id if held else None,
            )
        elif kind is RouteKind.PASSTHROUGH:
            record = records.passthrough(
                time=self._clock(),
                request_id=exchange.request_id,
                principal=caller.subject,
                client_id=caller.client_id,
                tier=caller.tier,
                phase=exchange.notes.get("phase"),
                client_address=exchange.client_host,
                method=exchange.method,
                route=exchange.route.template,
                path=exchange.route.path,
                status=outcome.status,
                upstream_status=outcome.status,
                latency_ms=_latency(exchange),
            )
        elif kind in _JOB_ACTIONS:
            record = records.job_access(
                time=self._clock(),
                request_id=exchange.request_id,
                principal=caller.subject,
                client_id=caller.client_id,
                tier=caller.tier,
                client_address=exchange.client_host,
                method=exchange.method,
                route=exchange.route.template,
                action=_JOB_ACTIONS[kind],
                job_id=exchange.route.video_id,
                status=outcome.status,
                upstream_status=outcome.status,
                latency_ms=_latency(exchange),
            )
        else:
            return
        await self._append_after_the_fact(exchange, record)

    async def failed(self, exchange: Exchange) -> None:
        caller = exchange.caller
        if caller is None or not exchange.notes.pop("audited", False):
            return
        record = self._outcome(
            exchange,
            upstream_status=None,
            job_id=None,
            response_bytes=None,
            error="the model API gave no answer",
        )
        await self._append_after_the_fact(exchange, record)

    def _outcome(
        self,
        exchange: Exchange,
        *,
        upstream_status: int | None,
        job_id: str | None,
        response_bytes: int | None,
        review_id: str | None = None,
        error: str | None = None,
    ) -> dict[str, Any]:
        caller = exchange.caller
        if caller is None:
            raise MissingToken()
        return records.generation_outcome(
            time=self._clock(),
            request_id=exchange.request_id,
            principal=caller.subject,
            client_id=caller.client_id,
            tier=caller.tier,
            route=exchange.route.template,
            decision=admitted_decision(exchange),
            upstream_status=upstream_status,
            job_id=job_id,
            latency_ms=_latency(exchange),
            request_bytes=len(exchange.body or b""),
            response_bytes=response_bytes,
            error=error,
            review_id=review_id,
        )

    async def refused(self, exchange: Exchange, error: GatewayError) -> None:
        if not exchange.route.kind.is_generation:
            return
        caller = exchange.caller
        request: GenerationRequest | None = exchange.notes.get("request")
        decision: Decision | None = exchange.notes.get("decision")
        reference = request.input_reference if request else None
        record = records.refusal(
            time=self._clock(),
            request_id=exchange.request_id,
            principal=caller.subject if caller else None,
            client_id=caller.client_id if caller else None,
            tier=caller.tier if caller else None,
            phase=exchange.notes.get("phase"),
            client_address=exchange.client_host,
            method=exchange.method,
            route=exchange.route.template,
            model=request.model if request else None,
            prompt=request.prompt if request else None,
            params=dict(request.params) if request else None,
            input_reference=reference,
            decision=refusal_decision(error),
            status=error.status,
            code=error.code,
            rules=decision.hits if decision else (),
            policy_version=decision.policy_version if decision else None,
            limits=exchange.notes.get("limit_states"),
            latency_ms=_latency(exchange),
            moderation=exchange.notes.get("moderation"),
        )
        await self._append_after_the_fact(exchange, record)

    async def _append_after_the_fact(self, exchange: Exchange, record: dict[str, Any]) -> None:
        # Only the write-ahead record gates the request. Later records join the next group
        # commit without holding the answer back; one that cannot be written is logged
        # loudly, and the sink's health shows in /readyz.
        task = asyncio.create_task(self._append_or_log(exchange.request_id, record))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _append_or_log(self, request_id: str, record: dict[str, Any]) -> None:
        try:
            await self._sink.append(record)
        except AuditUnavailable:
            _log.error("audit_record_lost", request_id=request_id, record_event=record["event"])

    async def drain(self) -> None:
        """Wait for the records still on their way to the sink (at shutdown)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)


def _latency(exchange: Exchange) -> float:
    return round((time.perf_counter() - exchange.started) * 1000, 3)
