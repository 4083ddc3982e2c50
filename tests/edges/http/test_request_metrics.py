"""The request counter as the outermost middleware reports to it: crashes and
cancellations included, in-flight back to zero either way."""

from __future__ import annotations

import asyncio

import pytest

from gateway.core.routes import classify
from gateway.edges.http.asgi import Message, Receive, Scope, Send
from gateway.edges.http.pipeline import Exchange
from gateway.edges.http.request_identity import RequestIdentity
from gateway.edges.http.request_metrics import RequestCounter
from gateway.ports.metrics import GatewayMetrics


def _scope() -> Scope:
    return {"type": "http", "method": "POST", "path": "/v1/videos", "headers": []}


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _run(app: RequestIdentity, scope: Scope) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, _receive, send)
    return sent


def _count(metrics: GatewayMetrics, **labels: str) -> float | None:
    return metrics.registry.get_sample_value("phasegate_requests_total", labels)


async def test_a_crash_is_counted_with_the_500_the_caller_got() -> None:
    metrics = GatewayMetrics()

    async def crashing(scope: Scope, receive: Receive, send: Send) -> None:
        scope["state"]["exchange"] = Exchange(
            request_id="r1",
            method="POST",
            route=classify("POST", "/v1/videos"),
            target="/v1/videos",
            headers=[],
            client_host=None,
        )
        raise RuntimeError("a bug")

    app = RequestIdentity(crashing, access_log=False, observer=RequestCounter(metrics))
    sent = await _run(app, _scope())
    assert sent[0]["status"] == 500
    labels = {"route": "create_video", "tier": "none", "decision": "allow", "status": "500"}
    assert _count(metrics, **labels) == 1.0
    assert metrics.registry.get_sample_value("phasegate_requests_in_flight") == 0.0


async def test_a_request_cancelled_before_any_answer_is_not_counted() -> None:
    metrics = GatewayMetrics()
    entered = asyncio.Event()

    async def hanging(scope: Scope, receive: Receive, send: Send) -> None:
        entered.set()
        await asyncio.Event().wait()

    app = RequestIdentity(hanging, access_log=False, observer=RequestCounter(metrics))
    task = asyncio.create_task(_run(app, _scope()))
    await entered.wait()
    assert metrics.registry.get_sample_value("phasegate_requests_in_flight") == 1.0
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert metrics.registry.get_sample_value("phasegate_requests_in_flight") == 0.0
    samples = [
        sample
        for family in metrics.registry.collect()
        for sample in family.samples
        if sample.name == "phasegate_requests_total"
    ]
    assert samples == []
