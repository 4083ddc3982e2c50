"""What only the SQLite adapter promises about reviews: one winner between processes'
connections, and held requests of a version-1 file brought into the review queue."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

from gateway.core.review import HeldRequest
from gateway.core.review_state import ReviewState, approve, reject
from gateway.ports.store import SqliteStore
from gateway.ports.store.sqlite import SCHEMA_VERSION


def _held(video_id: str) -> HeldRequest:
    return HeldRequest(
        video_id=video_id,
        principal="ada",
        client_id="pgc_1",
        tier="studios",
        target="/v1/videos",
        content_type="application/json",
        body=b'{"prompt": "x"}',
        rule_ids=("needs-review",),
        policy_version="pv-1",
        created_at=100.0,
    )


async def test_two_connections_deciding_at_once_have_one_winner(tmp_path: Path) -> None:
    """Reviewers on separate connections to one file (as separate CLI processes are):
    exactly one approval or rejection takes effect, however they interleave."""
    path = tmp_path / "state.db"
    stores = [await SqliteStore.open(path) for _ in range(4)]
    try:
        for round_ in range(10):
            video_id = f"video_{round_}"
            await stores[0].hold_request(_held(video_id), expires_at=1_000.0)
            moves = await asyncio.gather(
                stores[0].move_review(video_id, approve(reviewer="a", note=None, at=110.0)),
                stores[1].move_review(video_id, approve(reviewer="b", note=None, at=110.0)),
                stores[2].move_review(
                    video_id, reject(reviewer="c", reason="no", public_message=None, at=110.0)
                ),
                stores[3].move_review(
                    video_id, reject(reviewer="d", reason="no", public_message=None, at=110.0)
                ),
            )
            winners = [move.review for move in moves if move.won]
            assert len(winners) == 1
            assert winners[0] is not None
            final = await stores[0].review(video_id)
            assert final is not None
            assert (final.state, final.reviewer) == (winners[0].state, winners[0].reviewer)
    finally:
        for store in stores:
            await store.close()


async def test_held_requests_of_a_version_1_file_become_pending_reviews(tmp_path: Path) -> None:
    """A file written before reviews existed: its held requests wait as pending reviews,
    with the default 72 h to expiry, and the file is marked as the current version."""
    path = tmp_path / "state.db"
    store = await SqliteStore.open(path)
    await store.hold_request(_held("video_old"), expires_at=999.0)
    await store.close()
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("DROP TABLE reviews")
        conn.execute("UPDATE meta SET value = 1 WHERE key = 'schema_version'")
    store = await SqliteStore.open(path)
    try:
        review = await store.review("video_old")
        assert review is not None
        assert (review.state, review.expires_at) == (ReviewState.PENDING, 100.0 + 72 * 3600)
    finally:
        await store.close()
    with closing(sqlite3.connect(path)) as conn:
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert version == (SCHEMA_VERSION,)
