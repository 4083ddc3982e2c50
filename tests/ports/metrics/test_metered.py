"""The metered ports: each passes everything through and records what an operator needs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from gateway.core.errors import UpstreamTimeout, UpstreamUnavailable
from gateway.core.limits import LimitCheck, Verdict
from gateway.ports.audit import AuditUnavailable
from gateway.ports.limiter import LimiterUnavailable
from gateway.ports.metrics import GatewayMetrics, MeteredAuditSink, MeteredLimiter, MeteredUpstream
from gateway.ports.upstream import Headers, RequestBody


def _value(metrics: GatewayMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


class _Answer:
    def __init__(self, status: int) -> None:
        self.status = status
        self.headers: Headers = []

    async def body(self) -> AsyncIterator[bytes]:
        yield b""

    async def read(self, limit: int) -> bytes:
        return b""

    def release(self) -> None:
        return None


class _Upstream:
    """Answers with `status`, or raises `error`; remembers what it was sent."""

    def __init__(self, status: int = 200, error: Exception | None = None) -> None:
        self.status = status
        self.error = error
        self.sent: list[tuple[str, str]] = []
        self.closed = False

    async def send(self, method: str, target: str, headers: Headers, body: RequestBody) -> _Answer:
        self.sent.append((method, target))
        if self.error is not None:
            raise self.error
        return _Answer(self.status)

    async def reachable(self) -> bool:
        return self.error is None

    async def close(self) -> None:
        self.closed = True


async def test_upstream_answers_are_timed_by_route_kind_and_status_class() -> None:
    metrics = GatewayMetrics()
    upstream = MeteredUpstream(_Upstream(status=404), metrics)
    answer = await upstream.send("GET", "/v1/videos/video_abc123/content?variant=video", [], None)
    assert answer.status == 404
    count = "phasegate_upstream_request_seconds_count"
    assert _value(metrics, count, route="download_video", status_class="4xx") == 1.0
    assert _value(metrics, "phasegate_dependency_up", dependency="upstream") == 1.0


@pytest.mark.parametrize(
    ("error", "status_class"),
    [(UpstreamTimeout("silent"), "timeout"), (UpstreamUnavailable("refused"), "error")],
)
async def test_upstream_failures_are_timed_and_mark_it_down(
    error: Exception, status_class: str
) -> None:
    metrics = GatewayMetrics()
    upstream = MeteredUpstream(_Upstream(error=error), metrics)
    with pytest.raises(type(error)):
        await upstream.send("POST", "/v1/videos", [], b"{}")
    count = "phasegate_upstream_request_seconds_count"
    assert _value(metrics, count, route="create_video", status_class=status_class) == 1.0
    assert _value(metrics, "phasegate_dependency_up", dependency="upstream") == 0.0


async def test_upstream_comes_back_up_with_its_next_answer() -> None:
    metrics = GatewayMetrics()
    inner = _Upstream(error=UpstreamUnavailable("refused"))
    upstream = MeteredUpstream(inner, metrics)
    assert not await upstream.reachable()
    assert _value(metrics, "phasegate_dependency_up", dependency="upstream") == 0.0
    inner.error = None
    await upstream.send("GET", "/v1/videos", [], None)
    assert _value(metrics, "phasegate_dependency_up", dependency="upstream") == 1.0
    await upstream.close()
    assert inner.closed


class _Sink:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.records: list[dict[str, Any]] = []

    async def append(self, record: dict[str, Any]) -> None:
        if self.fail:
            raise AuditUnavailable("disk full")
        self.records.append(record)

    async def healthy(self) -> bool:
        return not self.fail

    async def close(self) -> None:
        return None


async def test_audit_writes_are_timed_and_failures_counted() -> None:
    metrics = GatewayMetrics()
    inner = _Sink()
    sink = MeteredAuditSink(inner, metrics)
    await sink.append({"event": "one"})
    await sink.append({"event": "two"})
    assert inner.records == [{"event": "one"}, {"event": "two"}]
    assert _value(metrics, "phasegate_audit_write_seconds_count") == 2.0
    assert _value(metrics, "phasegate_audit_write_failures_total") == 0.0

    inner.fail = True
    with pytest.raises(AuditUnavailable):
        await sink.append({"event": "three"})
    assert _value(metrics, "phasegate_audit_write_failures_total") == 1.0
    # Only durable writes are timed: a failure is counted, not observed.
    assert _value(metrics, "phasegate_audit_write_seconds_count") == 2.0
    assert _value(metrics, "phasegate_dependency_up", dependency="audit") == 0.0

    inner.fail = False
    assert await sink.healthy()
    assert _value(metrics, "phasegate_dependency_up", dependency="audit") == 1.0


class _Limiter:
    def __init__(self, verdict: Verdict | None = None) -> None:
        self.verdict = verdict
        self.refunds = 0

    async def acquire(
        self, checks: Sequence[LimitCheck], *, lease_id: str, lease_ttl: float
    ) -> Verdict:
        if self.verdict is None:
            raise LimiterUnavailable("no redis")
        return self.verdict

    async def refund(self, checks: Sequence[LimitCheck], *, lease_id: str) -> None:
        if self.verdict is None:
            raise LimiterUnavailable("no redis")
        self.refunds += 1

    async def release(self, lease_keys: Sequence[str], lease_id: str) -> None:
        return None

    async def ping(self) -> bool:
        return self.verdict is not None

    async def close(self) -> None:
        return None


async def test_limiter_refusals_are_counted_by_the_limit_that_refused() -> None:
    metrics = GatewayMetrics()
    inner = _Limiter(Verdict(allowed=False, refused_by="video_seconds", retry_after=30.0))
    limiter = MeteredLimiter(inner, metrics)
    verdict = await limiter.acquire([], lease_id="r1", lease_ttl=60.0)
    assert not verdict.allowed
    inner.verdict = Verdict(allowed=True)
    assert (await limiter.acquire([], lease_id="r2", lease_ttl=60.0)).allowed
    await limiter.refund([], lease_id="r2")
    assert inner.refunds == 1
    assert _value(metrics, "phasegate_limit_refusals_total", limit="video_seconds") == 1.0
    assert _value(metrics, "phasegate_dependency_up", dependency="limits") == 1.0


async def test_an_unreachable_limiter_marks_limits_down() -> None:
    metrics = GatewayMetrics()
    limiter = MeteredLimiter(_Limiter(None), metrics)
    with pytest.raises(LimiterUnavailable):
        await limiter.acquire([], lease_id="r1", lease_ttl=60.0)
    assert _value(metrics, "phasegate_dependency_up", dependency="limits") == 0.0
    assert _value(metrics, "phasegate_limit_refusals_total", limit="video_seconds") is None
