"""What every `Store` adapter promises about held requests and their reviews: one pending
review per hold, compare-and-set transitions, and a reservation given back exactly once."""

from __future__ import annotations

import asyncio

import pytest

from gateway.core.limits import LimitCheck
from gateway.core.policy import LimitKind
from gateway.core.review import HeldRequest
from gateway.core.review_state import (
    ReviewState,
    approve,
    claim,
    expire,
    refused_upstream,
    reject,
    retry_later,
    submitted,
)
from gateway.ports.store import Store

COST = LimitCheck(
    "capped:principal:ada:video_seconds",
    "video_seconds",
    LimitKind.COST,
    emission_interval=10_800.0,
    burst=8.0,
    cost=8.0,
    period=86_400.0,
    quota=8,
)


def _held(video_id: str, *, created_at: float = 100.0) -> HeldRequest:
    return HeldRequest(
        video_id=video_id,
        principal="ada",
        client_id="pgc_1",
        tier="capped",
        target="/v1/videos",
        content_type="application/json",
        body=b'{"prompt": "hold for review"}',
        rule_ids=("needs-review",),
        policy_version="pv-1",
        created_at=created_at,
    )


async def _hold(store: Store, video_id: str, *, created_at: float = 100.0) -> None:
    await store.hold_request(
        _held(video_id, created_at=created_at),
        expires_at=created_at + 50.0,
        request_id=f"req-{video_id}",
        charges=(COST,),
    )


async def test_a_hold_opens_a_pending_review(store: Store) -> None:
    """The request reads back whole and its review waits, pending, until its expiry."""
    await _hold(store, "video_1")
    assert await store.held_request("video_1") == _held("video_1")
    review = await store.review("video_1")
    assert review is not None
    assert (review.state, review.principal, review.tier, review.request_id) == (
        ReviewState.PENDING,
        "ada",
        "capped",
        "req-video_1",
    )
    assert (review.created_at, review.expires_at, review.settled) == (100.0, 150.0, False)
    assert await store.review("video_unknown") is None


async def test_a_second_hold_of_one_id_changes_nothing(store: Store) -> None:
    """A taken id is refused, and the first request and its review stay as they were."""
    await _hold(store, "video_1")
    await store.move_review("video_1", approve(reviewer="kim", note=None, at=110.0))
    with pytest.raises(ValueError, match="already exists"):
        await _hold(store, "video_1", created_at=300.0)
    review = await store.review("video_1")
    assert review is not None
    assert (review.state, review.created_at) == (ReviewState.APPROVED, 100.0)


async def test_the_first_decision_wins_and_the_loser_reads_it(store: Store) -> None:
    """Approve then reject: the rejection loses and sees the approval, reviewer and all."""
    await _hold(store, "video_1")
    first = await store.move_review("video_1", approve(reviewer="kim", note="ok", at=110.0))
    assert first.won
    assert first.review is not None
    assert (first.review.state, first.review.reviewer, first.review.decided_at) == (
        ReviewState.APPROVED,
        "kim",
        110.0,
    )
    second = await store.move_review(
        "video_1", reject(reviewer="lee", reason="no", public_message=None, at=111.0)
    )
    assert not second.won
    assert second.review is not None
    assert (second.review.state, second.review.reviewer) == (ReviewState.APPROVED, "kim")
    again = await store.move_review("video_1", approve(reviewer="lee", note=None, at=112.0))
    assert not again.won


async def test_concurrent_decisions_have_exactly_one_winner(store: Store) -> None:
    """Many reviewers and the expiry racing on one review: exactly one transition wins."""
    await _hold(store, "video_1")
    moves = await asyncio.gather(
        *(
            store.move_review("video_1", approve(reviewer=f"r{i}", note=None, at=110.0))
            for i in range(5)
        ),
        *(
            store.move_review(
                "video_1", reject(reviewer=f"x{i}", reason="no", public_message=None, at=110.0)
            )
            for i in range(5)
        ),
        store.move_review("video_1", expire(at=160.0)),
    )
    assert sum(move.won for move in moves) == 1
    final = {move.review.state for move in moves if move.review is not None}
    assert len(final) == 1


async def test_a_move_on_no_review_is_lost_with_nothing(store: Store) -> None:
    """There is nothing to move: not won, and no review to read."""
    move = await store.move_review("video_none", approve(reviewer="kim", note=None, at=1.0))
    assert (move.won, move.review) == (False, None)


async def test_a_claim_holds_until_it_runs_out(store: Store) -> None:
    """One gateway claims an approved review; another may take it over only once the claim
    ran out; only the holder may push its own claim's expiry."""
    await _hold(store, "video_1")
    await store.move_review("video_1", approve(reviewer="kim", note=None, at=110.0))
    first = await store.move_review("video_1", claim(owner="gw-1", at=120.0, until=180.0))
    assert first.won
    early = await store.move_review("video_1", claim(owner="gw-2", at=150.0, until=210.0))
    assert not early.won
    assert early.review is not None
    assert early.review.claim_owner == "gw-1"
    pushed = await store.move_review("video_1", retry_later(owner="gw-2", at=150.0, retry_at=500.0))
    assert not pushed.won
    late = await store.move_review("video_1", claim(owner="gw-2", at=180.0, until=240.0))
    assert late.won
    assert late.review is not None
    assert (late.review.state, late.review.claim_owner) == (ReviewState.SUBMITTING, "gw-2")


async def test_submission_records_the_models_job_and_settles(store: Store) -> None:
    """Submitted once: the model's job id is kept, the review needs nothing more, and a
    second submission of the same review is lost."""
    await _hold(store, "video_1")
    await store.move_review("video_1", approve(reviewer="kim", note=None, at=110.0))
    await store.move_review("video_1", claim(owner="gw-1", at=120.0, until=180.0))
    done = await store.move_review(
        "video_1", submitted(upstream_job_id="video_model", upstream_status=200, at=130.0)
    )
    assert done.won
    assert done.review is not None
    assert (done.review.upstream_job_id, done.review.settled) == ("video_model", True)
    assert not (
        await store.move_review(
            "video_1", submitted(upstream_job_id="video_other", upstream_status=200, at=131.0)
        )
    ).won
    assert await store.settle_review("video_1") is None
    assert await store.due_reviews(1_000.0) == []


async def test_an_ended_review_gives_back_its_charges_once(store: Store) -> None:
    """Rejected, expired or refused by the model: exactly one caller gets the charges."""
    for video_id in ("video_r", "video_e", "video_f"):
        await _hold(store, video_id)
    await store.move_review(
        "video_r", reject(reviewer="kim", reason="no", public_message="Sorry", at=110.0)
    )
    await store.move_review("video_e", expire(at=160.0))
    await store.move_review("video_f", approve(reviewer="kim", note=None, at=110.0))
    await store.move_review("video_f", claim(owner="gw-1", at=120.0, until=180.0))
    await store.move_review(
        "video_f", refused_upstream(upstream_status=400, code="bad", message="No.", at=130.0)
    )
    for video_id in ("video_r", "video_e", "video_f"):
        taken = await asyncio.gather(*(store.settle_review(video_id) for _ in range(4)))
        assert [t for t in taken if t is not None] == [(COST,)]
    failed = await store.review("video_f")
    assert failed is not None
    assert (failed.state, failed.upstream_status, failed.error_code, failed.settled) == (
        ReviewState.FAILED,
        400,
        "bad",
        True,
    )


async def test_nothing_is_given_back_while_a_review_is_in_play(store: Store) -> None:
    """A pending or approved review's reservation is not anyone's to take."""
    await _hold(store, "video_p")
    await _hold(store, "video_a")
    await store.move_review("video_a", approve(reviewer="kim", note=None, at=110.0))
    assert await store.settle_review("video_p") is None
    assert await store.settle_review("video_a") is None
    assert await store.settle_review("video_none") is None


async def test_due_reviews_are_what_a_gateway_must_act_on(store: Store) -> None:
    """Overdue pending ones, approved and submitting ones, ended ones still owed: oldest
    first, and nothing else."""
    await _hold(store, "video_waiting", created_at=100.0)  # expires at 150
    await _hold(store, "video_overdue", created_at=10.0)  # expires at 60
    await _hold(store, "video_approved")
    await _hold(store, "video_rejected")
    await _hold(store, "video_settled")
    await store.move_review("video_approved", approve(reviewer="kim", note=None, at=110.0))
    for video_id in ("video_rejected", "video_settled"):
        await store.move_review(
            video_id, reject(reviewer="kim", reason="no", public_message=None, at=110.0)
        )
    await store.settle_review("video_settled")
    due = [review.video_id for review in await store.due_reviews(120.0)]
    assert due == ["video_overdue", "video_approved", "video_rejected"]


async def test_reviews_lists_the_states_asked_for_oldest_first(store: Store) -> None:
    """Filtering by state keeps hold order."""
    for video_id in ("video_a", "video_b", "video_c"):
        await _hold(store, video_id)
    await store.move_review("video_b", approve(reviewer="kim", note=None, at=110.0))
    pending = await store.reviews([ReviewState.PENDING])
    assert [r.video_id for r in pending] == ["video_a", "video_c"]
    every = await store.reviews(list(ReviewState))
    assert [r.video_id for r in every] == ["video_a", "video_b", "video_c"]
    assert await store.reviews([]) == []
