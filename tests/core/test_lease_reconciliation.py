"""The lease reconciler's decisions: when to look, and what the model API's answer means."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.core.lease_reconciliation import (
    CLAIM_BATCH,
    LeaseVerdict,
    ReconcileConfig,
    claim_at,
    ended_jobs,
    verdict,
)


@pytest.mark.parametrize(
    ("status", "document", "expected"),
    [
        (200, {"id": "video_1", "status": "completed"}, LeaseVerdict.RELEASE),
        (200, {"id": "video_1", "status": "failed"}, LeaseVerdict.RELEASE),
        (404, {"error": {"code": "video_not_found"}}, LeaseVerdict.RELEASE),
        (404, None, LeaseVerdict.RELEASE),
        (200, {"id": "video_1", "status": "queued"}, LeaseVerdict.KEEP),
        (200, {"id": "video_1", "status": "in_progress"}, LeaseVerdict.KEEP),
        (200, {"id": "video_1"}, LeaseVerdict.UNKNOWN),
        (200, ["not", "a", "video"], LeaseVerdict.UNKNOWN),
        (200, None, LeaseVerdict.UNKNOWN),
        (500, {"id": "video_1", "status": "completed"}, LeaseVerdict.UNKNOWN),
        (429, None, LeaseVerdict.UNKNOWN),
        (401, None, LeaseVerdict.UNKNOWN),
    ],
)
def test_only_an_ended_or_vanished_job_frees_its_lease(
    status: int, document: Any, expected: LeaseVerdict
) -> None:
    """Ended (completed, failed) or unknown to the model (404): release. Running: keep.
    Anything the gateway cannot read as either: look again later, never release."""
    assert verdict(status, document) is expected


def test_a_claim_holds_leases_off_for_one_period() -> None:
    claim = claim_at(1000.0, ReconcileConfig(reconcile_after=300.0))
    assert (claim.now, claim.until, claim.limit) == (1000.0, 1300.0, CLAIM_BATCH)


@pytest.mark.parametrize(
    ("reconcile_after", "interval"), [(300.0, 30.0), (60.0, 15.0), (1.0, 0.25), (0.01, 0.05)]
)
def test_replicas_look_a_few_times_a_period_at_most_every_30_seconds(
    reconcile_after: float, interval: float
) -> None:
    assert ReconcileConfig(reconcile_after).interval == pytest.approx(interval)


def test_ended_jobs_are_picked_from_a_listing() -> None:
    videos = [
        {"id": "a", "status": "completed"},
        {"id": "b", "status": "in_progress"},
        {"id": "c", "status": "failed"},
        {"id": "d", "status": "queued"},
        {"status": "completed"},
    ]
    assert ended_jobs(videos) == ["a", "c"]
