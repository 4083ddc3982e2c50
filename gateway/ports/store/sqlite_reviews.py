"""Reviews of held requests in the SQLite store: the table, and one function per operation.

Each function runs on a connection the store hands it; writes that take several
statements run in one transaction the store opens, so every transition is a
compare-and-set that SQLite's write lock serialises between processes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence
from dataclasses import asdict
from typing import Any

from gateway.core.limits import LimitCheck
from gateway.core.review import HeldRequest
from gateway.core.review_state import Review, ReviewMove, ReviewState, ReviewTransition
from gateway.ports.store.charges import decode_charges, encode_charges

# `settled` is 0 while something is still owed on the review's reservation: while it
# waits, and after it ended without a job until the reservation was given back. A
# submitted review's reservation belongs to its job, so it is settled too. The partial
# index keeps a gateway's poll to the few reviews still in play, however many ended.
TABLES = (
    """CREATE TABLE IF NOT EXISTS reviews (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, video_id TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL, principal TEXT NOT NULL, client_id TEXT NOT NULL,
        tier TEXT NOT NULL, request_id TEXT, created_at REAL NOT NULL,
        expires_at REAL NOT NULL, updated_at REAL NOT NULL, reviewer TEXT, note TEXT,
        reason TEXT, public_message TEXT, decided_at REAL, claim_owner TEXT,
        claim_expires_at REAL, upstream_job_id TEXT, upstream_status INTEGER,
        error_code TEXT, error_message TEXT, charges TEXT NOT NULL DEFAULT '[]',
        settled INTEGER NOT NULL DEFAULT 0)""",
    "CREATE INDEX IF NOT EXISTS reviews_state ON reviews (state, seq)",
    "CREATE INDEX IF NOT EXISTS reviews_in_play ON reviews (seq) WHERE settled = 0",
)
# Held requests kept before reviews existed wait as pending ones, for the default 72 h.
BACKFILL = """INSERT OR IGNORE INTO reviews
    (video_id, state, principal, client_id, tier, created_at, expires_at, updated_at)
    SELECT video_id, 'pending', principal, client_id, tier, created_at,
        created_at + 259200, created_at FROM held_requests"""

# Queries are assembled from these constants only, never from input (hence S608).
_COLUMNS = (
    "video_id, state, principal, client_id, tier, request_id, created_at, expires_at, "
    "updated_at, reviewer, note, reason, public_message, decided_at, claim_owner, "
    "claim_expires_at, upstream_job_id, upstream_status, error_code, error_message, settled"
)
_INSERT_HELD = """INSERT INTO held_requests (video_id, principal, client_id, tier, target,
    content_type, body, rule_ids, policy_version, created_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"""
_INSERT_REVIEW = """INSERT INTO reviews (video_id, state, principal, client_id, tier,
    request_id, created_at, expires_at, updated_at, charges)
    VALUES (?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?)"""
_SELECT = f"SELECT {_COLUMNS} FROM reviews WHERE video_id = ?"  # noqa: S608
_MOVE = f"""UPDATE reviews SET state = :to, updated_at = :at,
    reviewer = coalesce(:reviewer, reviewer), note = coalesce(:note, note),
    reason = coalesce(:reason, reason),
    public_message = coalesce(:public_message, public_message),
    decided_at = CASE WHEN :decided THEN :at ELSE decided_at END,
    claim_owner = coalesce(:claim_owner, claim_owner),
    claim_expires_at = coalesce(:claim_expires_at, claim_expires_at),
    upstream_job_id = coalesce(:upstream_job_id, upstream_job_id),
    upstream_status = coalesce(:upstream_status, upstream_status),
    error_code = coalesce(:error_code, error_code),
    error_message = coalesce(:error_message, error_message),
    settled = CASE WHEN :to = 'submitted' THEN 1 ELSE settled END
    WHERE video_id = :video_id
    AND (state = :source OR (:takeover_before IS NOT NULL AND state = 'submitting'
        AND claim_expires_at <= :takeover_before))
    AND (:only_owner IS NULL OR claim_owner = :only_owner)
    RETURNING {_COLUMNS}"""  # noqa: S608
_DUE = f"""SELECT {_COLUMNS} FROM reviews WHERE settled = 0 AND (
    (state = 'pending' AND expires_at <= ?)
    OR state IN ('approved', 'submitting', 'rejected', 'expired', 'failed'))
    ORDER BY seq"""  # noqa: S608
_SETTLE = """UPDATE reviews SET settled = 1
    WHERE video_id = ? AND settled = 0 AND state IN ('rejected', 'expired', 'failed')
    RETURNING charges"""


def _review(row: Sequence[Any]) -> Review:
    values = list(row)
    values[1] = ReviewState(values[1])
    values[-1] = bool(values[-1])
    return Review(*values)


def hold(
    conn: sqlite3.Connection,
    held: HeldRequest,
    *,
    expires_at: float,
    request_id: str | None,
    charges: Sequence[LimitCheck],
) -> bool:
    """Keep the request and open its review; False if the id is taken. The caller runs it
    in one transaction, so both are kept or neither."""
    inserted = conn.execute(
        _INSERT_HELD,
        (
            held.video_id,
            held.principal,
            held.client_id,
            held.tier,
            held.target,
            held.content_type,
            held.body,
            "\n".join(held.rule_ids),
            held.policy_version,
            held.created_at,
        ),
    ).rowcount
    if inserted:
        conn.execute(
            _INSERT_REVIEW,
            (
                held.video_id,
                held.principal,
                held.client_id,
                held.tier,
                request_id,
                held.created_at,
                expires_at,
                held.created_at,
                encode_charges(charges),
            ),
        )
    return bool(inserted)


def read(conn: sqlite3.Connection, video_id: str) -> Review | None:
    row = conn.execute(_SELECT, (video_id,)).fetchone()
    return None if row is None else _review(row)


def in_states(conn: sqlite3.Connection, states: Collection[ReviewState]) -> list[Review]:
    wanted = sorted({ReviewState(s).value for s in states})
    if not wanted:
        return []
    # Only the number of placeholders comes from the argument, never its text.
    marks = ", ".join("?" * len(wanted))
    query = f"SELECT {_COLUMNS} FROM reviews WHERE state IN ({marks}) ORDER BY seq"  # noqa: S608
    return [_review(row) for row in conn.execute(query, wanted)]


def move(conn: sqlite3.Connection, video_id: str, transition: ReviewTransition) -> ReviewMove:
    """The caller runs it in one transaction, so a lost move reads the state that won."""
    values = {
        **asdict(transition),
        "source": transition.source.value,
        "to": transition.to.value,
        "video_id": video_id,
    }
    row = conn.execute(_MOVE, values).fetchone()
    return ReviewMove(True, _review(row)) if row else ReviewMove(False, read(conn, video_id))


def due(conn: sqlite3.Connection, now: float) -> list[Review]:
    return [_review(row) for row in conn.execute(_DUE, (now,))]


def settle(conn: sqlite3.Connection, video_id: str) -> tuple[LimitCheck, ...] | None:
    row = conn.execute(_SETTLE, (video_id,)).fetchone()
    return None if row is None else decode_charges(str(row[0]))
