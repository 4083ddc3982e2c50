"""The life of a review: which state may follow which, and what each transition records.

Every transition is a compare-and-set: it names the state it leaves, and the store applies
it only if the review is still in that state. Of two reviewers acting at once, or a
reviewer and the expiry, exactly one transition wins; the others learn the state that
won instead.

    pending ──approve──▶ approved ──claim──▶ submitting ──▶ submitted (the model's job id)
       │                                        │   ▲
       ├──reject──▶ rejected                    │   └── a claim that ran out is taken over
       └──expire──▶ expired                     └──▶ failed (the model refused it)

Rejected, expired and failed reviews end without a job: what the held request reserved
(its cost and its concurrency slot) is given back, once, by whoever settles it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

# What the client reads while nobody has decided, or the model has not answered yet.
DEFAULT_PUBLIC_MESSAGE = "This request was declined after review under the usage policy."
EXPIRED_MESSAGE = "This request was held for review and was not reviewed in time."
UPSTREAM_FAILED_MESSAGE = "The model API refused the reviewed request."
MAX_TEXT = 2000


class ReviewState(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    REJECTED = "rejected"
    EXPIRED = "expired"
    FAILED = "failed"

    @property
    def reads_queued(self) -> bool:
        """The client's job has not reached the model yet: it reads as queued."""
        return self in _QUEUED

    @property
    def ended_without_job(self) -> bool:
        """No job will come of it: the reservation goes back and the job reads failed."""
        return self in ENDED_WITHOUT_JOB


_QUEUED = frozenset({ReviewState.PENDING, ReviewState.APPROVED, ReviewState.SUBMITTING})
ENDED_WITHOUT_JOB = frozenset({ReviewState.REJECTED, ReviewState.EXPIRED, ReviewState.FAILED})
# Where each state may go; everything else is refused.
NEXT: dict[ReviewState, frozenset[ReviewState]] = {
    ReviewState.PENDING: frozenset(
        {ReviewState.APPROVED, ReviewState.REJECTED, ReviewState.EXPIRED}
    ),
    ReviewState.APPROVED: frozenset({ReviewState.SUBMITTING}),
    ReviewState.SUBMITTING: frozenset(
        {ReviewState.SUBMITTING, ReviewState.SUBMITTED, ReviewState.FAILED}
    ),
}


@dataclass(frozen=True, slots=True)
class Review:
    """A held request's review: who decided what, and what became of it at the model."""

    video_id: str
    state: ReviewState
    principal: str
    client_id: str
    tier: str
    request_id: str | None
    created_at: float
    expires_at: float
    updated_at: float
    reviewer: str | None = None
    note: str | None = None
    reason: str | None = None
    public_message: str | None = None
    decided_at: float | None = None
    claim_owner: str | None = None
    claim_expires_at: float | None = None
    upstream_job_id: str | None = None
    upstream_status: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    # Nothing more is owed on the held request's reservation: it was given back, or it
    # became the submitted job's.
    settled: bool = False

    def overdue(self, now: float) -> bool:
        """Pending past its expiry: the next look at it expires it."""
        return self.state is ReviewState.PENDING and now >= self.expires_at

    def claimable(self, now: float) -> bool:
        """Approved, or left in `submitting` by a gateway whose claim ran out."""
        if self.state is ReviewState.APPROVED:
            return True
        return (
            self.state is ReviewState.SUBMITTING
            and self.claim_expires_at is not None
            and self.claim_expires_at <= now
        )

    def client_error(self) -> tuple[str, str]:
        """The `error` (code, message) of the failed video the client reads."""
        if self.state is ReviewState.REJECTED:
            return "policy_violation", self.public_message or DEFAULT_PUBLIC_MESSAGE
        if self.state is ReviewState.EXPIRED:
            return "review_expired", EXPIRED_MESSAGE
        return self.error_code or "upstream_error", self.error_message or UPSTREAM_FAILED_MESSAGE


@dataclass(frozen=True, slots=True)
class ReviewTransition:
    """One compare-and-set on a review: from `source` to `to`, recording the given fields.

    `takeover_before` also lets a `submitting` review move when its claim ran out before
    that time; `only_owner` restricts the move to the gateway holding the claim. Fields
    left None keep their stored value.
    """

    source: ReviewState
    to: ReviewState
    at: float
    reviewer: str | None = None
    note: str | None = None
    reason: str | None = None
    public_message: str | None = None
    decided: bool = False
    claim_owner: str | None = None
    claim_expires_at: float | None = None
    takeover_before: float | None = None
    only_owner: str | None = None
    upstream_job_id: str | None = None
    upstream_status: int | None = None
    error_code: str | None = None
    error_message: str | None = None

    def __post_init__(self) -> None:
        if self.to not in NEXT.get(self.source, frozenset()):
            raise ValueError(f"a review cannot go from {self.source} to {self.to}")


@dataclass(frozen=True, slots=True)
class ReviewMove:
    """The outcome of a transition: whether it won, and the review as it stands now
    (None when there is no such review)."""

    won: bool
    review: Review | None


class ReviewInputError(ValueError):
    """A reviewer's input that cannot be recorded (empty, too long, control characters)."""


def _text(name: str, value: str | None, *, required: bool) -> str | None:
    if value is None or not value.strip():
        if required:
            raise ReviewInputError(f"{name} must not be empty")
        return None
    value = value.strip()
    if len(value) > MAX_TEXT:
        raise ReviewInputError(f"{name} must be at most {MAX_TEXT} characters")
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise ReviewInputError(f"{name} must not contain control characters")
    return value


def _reviewer(name: str) -> str:
    reviewer = _text("the reviewer", name, required=True)
    if reviewer is None or "\n" in reviewer or len(reviewer) > 200:
        raise ReviewInputError("the reviewer must be one line of at most 200 characters")
    return reviewer


def approve(*, reviewer: str, note: str | None, at: float) -> ReviewTransition:
    return ReviewTransition(
        ReviewState.PENDING,
        ReviewState.APPROVED,
        at,
        reviewer=_reviewer(reviewer),
        note=_text("the note", note, required=False),
        decided=True,
    )


def reject(
    *, reviewer: str, reason: str, public_message: str | None, at: float
) -> ReviewTransition:
    return ReviewTransition(
        ReviewState.PENDING,
        ReviewState.REJECTED,
        at,
        reviewer=_reviewer(reviewer),
        reason=_text("the reason", reason, required=True),
        public_message=_text("the public message", public_message, required=False),
        decided=True,
    )


def expire(*, at: float) -> ReviewTransition:
    return ReviewTransition(ReviewState.PENDING, ReviewState.EXPIRED, at, decided=True)


def claim(*, owner: str, at: float, until: float) -> ReviewTransition:
    """Take an approved review (or one whose previous claim ran out) to submit it."""
    return ReviewTransition(
        ReviewState.APPROVED,
        ReviewState.SUBMITTING,
        at,
        claim_owner=owner,
        claim_expires_at=until,
        takeover_before=at,
    )


def retry_later(*, owner: str, at: float, retry_at: float) -> ReviewTransition:
    """The model gave no usable answer: the claim runs out at `retry_at`, for a retry."""
    return ReviewTransition(
        ReviewState.SUBMITTING,
        ReviewState.SUBMITTING,
        at,
        claim_expires_at=retry_at,
        only_owner=owner,
    )


def submitted(*, upstream_job_id: str, upstream_status: int, at: float) -> ReviewTransition:
    return ReviewTransition(
        ReviewState.SUBMITTING,
        ReviewState.SUBMITTED,
        at,
        upstream_job_id=upstream_job_id,
        upstream_status=upstream_status,
    )


def refused_upstream(
    *, upstream_status: int | None, code: str | None, message: str | None, at: float
) -> ReviewTransition:
    """The model API refused the request (or it could not be sent at all: no status)."""
    return ReviewTransition(
        ReviewState.SUBMITTING,
        ReviewState.FAILED,
        at,
        upstream_status=upstream_status,
        error_code=code or "upstream_error",
        error_message=message or UPSTREAM_FAILED_MESSAGE,
    )


def refusal_reason(video_id: str, review: Review | None, wanted: str) -> str:
    """Why a reviewer could not make the review `wanted` (approved, rejected), in words."""
    if review is None:
        return f"no review {video_id!r}"
    by = f" by {review.reviewer}" if review.reviewer else ""
    if review.state is ReviewState.EXPIRED:
        return f"review {video_id} expired before anyone decided; it cannot be {wanted}"
    if review.state is ReviewState.PENDING:
        return f"review {video_id} is still pending"
    if review.state is ReviewState.REJECTED:
        return f"review {video_id} was already rejected{by}"
    if review.state is ReviewState.APPROVED:
        return f"review {video_id} was already approved{by}"
    return f"review {video_id} was already approved{by} and is {review.state} now"
