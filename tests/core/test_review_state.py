"""The review state machine: which transitions exist, what they record, what a client reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from gateway.core.review_state import (
    DEFAULT_PUBLIC_MESSAGE,
    Review,
    ReviewInputError,
    ReviewState,
    ReviewTransition,
    approve,
    claim,
    refusal_reason,
    reject,
)

PENDING = Review(
    video_id="video_1",
    state=ReviewState.PENDING,
    principal="ada",
    client_id="pgc_1",
    tier="studios",
    request_id="req-1",
    created_at=100.0,
    expires_at=200.0,
    updated_at=100.0,
)


@pytest.mark.parametrize(
    ("source", "to"),
    [
        (ReviewState.PENDING, ReviewState.SUBMITTED),
        (ReviewState.APPROVED, ReviewState.REJECTED),
        (ReviewState.REJECTED, ReviewState.APPROVED),
        (ReviewState.EXPIRED, ReviewState.APPROVED),
        (ReviewState.SUBMITTED, ReviewState.FAILED),
    ],
)
def test_transitions_outside_the_machine_are_refused(source: ReviewState, to: ReviewState) -> None:
    """No transition skips a step or leaves a final state."""
    with pytest.raises(ValueError, match="cannot go"):
        ReviewTransition(source, to, at=1.0)


def test_a_pending_review_becomes_overdue_at_its_expiry() -> None:
    """Overdue from its expiry time on, and only while pending."""
    assert not PENDING.overdue(199.9)
    assert PENDING.overdue(200.0)
    assert not replace(PENDING, state=ReviewState.APPROVED).overdue(500.0)


def test_a_claim_can_be_taken_over_only_once_it_ran_out() -> None:
    """An approved review is claimable; a submitting one only after its claim's expiry."""
    approved = replace(PENDING, state=ReviewState.APPROVED)
    assert approved.claimable(0.0)
    submitting = replace(PENDING, state=ReviewState.SUBMITTING, claim_expires_at=150.0)
    assert not submitting.claimable(149.0)
    assert submitting.claimable(150.0)


def test_what_the_client_reads_of_each_ending() -> None:
    """Rejected: policy_violation with the public message or a neutral one; expired:
    review_expired; refused by the model: the model's own error."""
    rejected = replace(PENDING, state=ReviewState.REJECTED, public_message="Not this.")
    assert rejected.client_error() == ("policy_violation", "Not this.")
    silent = replace(PENDING, state=ReviewState.REJECTED)
    assert silent.client_error() == ("policy_violation", DEFAULT_PUBLIC_MESSAGE)
    assert replace(PENDING, state=ReviewState.EXPIRED).client_error()[0] == "review_expired"
    failed = replace(PENDING, state=ReviewState.FAILED, error_code="bad", error_message="no")
    assert failed.client_error() == ("bad", "no")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: approve(reviewer="  ", note=None, at=1.0), "reviewer must not be empty"),
        (lambda: approve(reviewer="a\nb", note=None, at=1.0), "one line"),
        (lambda: reject(reviewer="kim", reason="", public_message=None, at=1.0), "reason"),
        (lambda: reject(reviewer="kim", reason="x" * 2001, public_message=None, at=1.0), "2000"),
        (lambda: approve(reviewer="kim", note="bell\x07", at=1.0), "control characters"),
    ],
)
def test_bad_reviewer_input_is_refused(build: Callable[[], object], message: str) -> None:
    """Empty, multi-line, oversized or control-character input never becomes a transition."""
    with pytest.raises(ReviewInputError, match=message):
        build()


def test_decisions_record_who_and_what() -> None:
    """Approve and reject carry the reviewer, trimmed, and their texts; claims a deadline."""
    approval = approve(reviewer=" kim ", note="fine", at=5.0)
    assert (approval.source, approval.to, approval.reviewer, approval.note, approval.decided) == (
        ReviewState.PENDING,
        ReviewState.APPROVED,
        "kim",
        "fine",
        True,
    )
    rejection = reject(reviewer="kim", reason="real person", public_message=None, at=5.0)
    assert (rejection.reason, rejection.public_message) == ("real person", None)
    taken = claim(owner="gw-1", at=10.0, until=70.0)
    assert (taken.claim_owner, taken.claim_expires_at, taken.takeover_before) == (
        "gw-1",
        70.0,
        10.0,
    )


def test_refusal_reasons_name_the_state_that_won() -> None:
    """A reviewer who lost learns who decided what, or that the review expired."""
    approved = replace(PENDING, state=ReviewState.APPROVED, reviewer="kim")
    assert refusal_reason("video_1", approved, "rejected") == (
        "review video_1 was already approved by kim"
    )
    expired = replace(PENDING, state=ReviewState.EXPIRED)
    assert "expired" in refusal_reason("video_1", expired, "approved")
    assert refusal_reason("video_9", None, "approved") == "no review 'video_9'"
