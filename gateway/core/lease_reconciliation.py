"""What the lease reconciler decides: which leases to look at, and what an answer means.

A job's concurrency lease is freed when the gateway sees the job end in an answer it
passes (a read, a listing, a download, a delete). A client that never looks would keep
its slot until the lease expires; so each replica, every so often, claims a share of the
leases whose check is due (bound longer ago than `--reconcile-after`) and asks the model
API about each job. The claim moves the lease's next check on, so replicas never check
the same lease at once, and a job still running is asked about again one period later.
Freeing goes through the store's atomic `take_lease`: a lease is released once, whoever
sees the job end first.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.core.jobs import TERMINAL_STATUSES, job_id_and_status

# Leases claimed per look: bounds the work one replica takes on at once.
CLAIM_BATCH = 64
# Questions to the model API in flight at once, per replica.
MAX_IN_FLIGHT = 8


class LeaseVerdict(enum.Enum):
    RELEASE = "release"  # the job ended, or the model API no longer knows it
    KEEP = "keep"  # still running: look again a period later
    UNKNOWN = "unknown"  # no usable answer: look again a period later


@dataclass(frozen=True, slots=True)
class ReconcileConfig:
    """`reconcile_after`: how long after a job's creation (and then between looks) the
    reconciler asks about a lease it has not seen end."""

    reconcile_after: float

    @property
    def interval(self) -> float:
        """How often a replica looks for due leases: often enough that a due lease waits
        at most a fraction of the period, never more than 30 s."""
        return max(0.05, min(30.0, self.reconcile_after / 4))


@dataclass(frozen=True, slots=True)
class Claim:
    """One look at the store: leases due at `now`, held off until `until`, at most `limit`."""

    now: float
    until: float
    limit: int


def claim_at(now: float, config: ReconcileConfig) -> Claim:
    return Claim(now=now, until=now + config.reconcile_after, limit=CLAIM_BATCH)


def verdict(status: int, document: Any) -> LeaseVerdict:
    """What the model API's answer to `GET /v1/videos/{id}` says about the job's lease."""
    if status == 404:
        return LeaseVerdict.RELEASE  # deleted or expired at the model: nothing runs
    if status != 200:
        return LeaseVerdict.UNKNOWN
    _, job_status = job_id_and_status(document)
    if job_status is None:
        return LeaseVerdict.UNKNOWN
    return LeaseVerdict.RELEASE if job_status in TERMINAL_STATUSES else LeaseVerdict.KEEP


def ended_jobs(videos: Sequence[Mapping[str, Any]]) -> list[str]:
    """The ids of the video objects (say, a listing's) whose job has ended."""
    ended = []
    for video in videos:
        job_id, status = job_id_and_status(video)
        if job_id is not None and status in TERMINAL_STATUSES:
            ended.append(job_id)
    return ended
