"""The embedded state store: one SQLite file shared by the gateway processes and the CLI.

Blocking calls run on one worker thread per store, so the event loop never waits on a
lock another process holds. The few calls on the request path (job ownership, the
revision poll) first try a second connection inline, without waiting for any lock: a
hop to the worker thread costs about 100 us here, the statement itself a few. Only
when another writer holds the lock do they take the worker thread and its timeout.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from gateway.core.idempotency import IdempotencyRecord, IdempotencyState
from gateway.core.identity import (
    Grant,
    JobLease,
    OwnedJob,
    PhaseChange,
    RevocationView,
    StoredKey,
)
from gateway.core.limits import LimitCheck
from gateway.core.review import HeldRequest
from gateway.core.review_state import Review, ReviewMove, ReviewState, ReviewTransition
from gateway.ports.store import sqlite_reviews as review_sql
from gateway.ports.store.base import StoreUnavailable

SCHEMA_VERSION = 3
# Long enough past expiry that no clock skew between hosts could matter; after that a
# revoked token id is dead weight in every gateway's view.
PRUNE_AFTER_SECONDS = 86_400.0

_T = TypeVar("_T")
# Inline writes leave checkpoints to the worker thread, which runs one this often.
_CHECKPOINT_EVERY_WRITES = 1000
_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
Params = Sequence[object] | Mapping[str, object]

_META = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)"
_TABLES = (
    """CREATE TABLE IF NOT EXISTS grants (
        client_id TEXT PRIMARY KEY, principal TEXT NOT NULL, tier TEXT NOT NULL,
        secret_hash TEXT NOT NULL, created_at REAL NOT NULL, expires_at REAL, revoked_at REAL)""",
    "CREATE INDEX IF NOT EXISTS grants_principal ON grants (principal)",
    """CREATE TABLE IF NOT EXISTS revoked_tokens (
        jti TEXT PRIMARY KEY, expires_at REAL NOT NULL, revoked_at REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS revoked_tokens_expires_at ON revoked_tokens (expires_at)",
    """CREATE TABLE IF NOT EXISTS signing_keys (
        kid TEXT PRIMARY KEY, private_pem BLOB NOT NULL, created_at REAL NOT NULL,
        retire_at REAL)""",
    # seq rather than job_id is the rowid: an explicit INTEGER PRIMARY KEY survives VACUUM,
    # and AUTOINCREMENT never hands a forgotten job's number to a newer one, so page
    # order is creation order even when timestamps tie.
    """CREATE TABLE IF NOT EXISTS jobs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL UNIQUE,
        principal TEXT NOT NULL, created_at REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS jobs_principal_seq ON jobs (principal, seq)",
    """CREATE TABLE IF NOT EXISTS held_requests (
        video_id TEXT PRIMARY KEY, principal TEXT NOT NULL, client_id TEXT NOT NULL,
        tier TEXT NOT NULL, target TEXT NOT NULL, content_type TEXT NOT NULL,
        body BLOB NOT NULL, rule_ids TEXT NOT NULL, policy_version TEXT NOT NULL,
        created_at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS idempotency_keys (
        principal TEXT NOT NULL, idempotency_key TEXT NOT NULL, fingerprint TEXT NOT NULL,
        state TEXT NOT NULL, status INTEGER, content_type TEXT, body BLOB,
        created_at REAL NOT NULL, expires_at REAL NOT NULL,
        PRIMARY KEY (principal, idempotency_key))""",
    "CREATE INDEX IF NOT EXISTS idempotency_keys_expires_at ON idempotency_keys (expires_at)",
    # check_at: when the lease reconciler next asks about the job; expires_at: when the
    # lease itself runs out (NULL for bindings made before version 3, which never said).
    """CREATE TABLE IF NOT EXISTS job_leases (
        job_id TEXT PRIMARY KEY, lease_id TEXT NOT NULL, lease_keys TEXT NOT NULL,
        check_at REAL NOT NULL DEFAULT 0, expires_at REAL)""",
    """CREATE TABLE IF NOT EXISTS phase_changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, phase TEXT NOT NULL, actor TEXT NOT NULL,
        changed_at REAL NOT NULL)""",
)

# Queries below are assembled from these constants only, never from input (hence S608).
_GRANT = "principal, tier, client_id, secret_hash, created_at, expires_at, revoked_at"
_SELECT_GRANT = f"SELECT {_GRANT} FROM grants WHERE client_id = ?"  # noqa: S608
_SELECT_GRANTS = f"SELECT {_GRANT} FROM grants ORDER BY created_at, rowid"  # noqa: S608
_INSERT_GRANT = f"INSERT INTO grants ({_GRANT}) VALUES (?, ?, ?, ?, ?, ?, ?) "  # noqa: S608
_INSERT_GRANT += "ON CONFLICT DO NOTHING"
_REVOKE = "UPDATE grants SET revoked_at = ? WHERE {} = ? AND (revoked_at IS NULL OR revoked_at > ?)"
_REVOKE_PRINCIPAL = _REVOKE.format("principal")
_REVOKE_CLIENT = _REVOKE.format("client_id")
_REVOKE_JTI = """INSERT INTO revoked_tokens (jti, expires_at, revoked_at) VALUES (?, ?, ?)
    ON CONFLICT (jti) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)"""
_PRUNE_JTIS = "DELETE FROM revoked_tokens WHERE expires_at < ?"
_SELECT_KEYS = (
    "SELECT kid, private_pem, created_at, retire_at FROM signing_keys ORDER BY created_at, rowid"
)
_INSERT_KEY = """INSERT INTO signing_keys (kid, private_pem, created_at, retire_at)
    VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"""
# Earlier only: a retirement already scheduled sooner is never postponed.
_RETIRE_KEY = (
    "UPDATE signing_keys SET retire_at = ? WHERE kid = ? AND (retire_at IS NULL OR retire_at > ?)"
)
_INSERT_JOB = (
    "INSERT INTO jobs (job_id, principal, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
)
_HELD = (
    "video_id, principal, client_id, tier, target, content_type, body, rule_ids, "
    "policy_version, created_at"
)
_SELECT_HELD = f"SELECT {_HELD} FROM held_requests WHERE video_id = ?"  # noqa: S608
_PRUNE_IDEMPOTENCY = "DELETE FROM idempotency_keys WHERE expires_at <= ?"
_CLAIM_IDEMPOTENCY = """INSERT INTO idempotency_keys
    (principal, idempotency_key, fingerprint, state, created_at, expires_at)
    VALUES (?, ?, ?, 'in_progress', ?, ?) ON CONFLICT DO NOTHING"""
_SELECT_IDEMPOTENCY = """SELECT fingerprint, state, status, content_type, body, expires_at
    FROM idempotency_keys WHERE principal = ? AND idempotency_key = ?"""
# Only a claim still in progress moves: a completed answer is never overwritten or dropped.
_COMPLETE_IDEMPOTENCY = """UPDATE idempotency_keys
    SET state = 'completed', status = ?, content_type = ?, body = ?, expires_at = ?
    WHERE principal = ? AND idempotency_key = ? AND state = 'in_progress'"""
_RELEASE_IDEMPOTENCY = """DELETE FROM idempotency_keys
    WHERE principal = ? AND idempotency_key = ? AND state = 'in_progress'"""
_BIND_LEASE = """INSERT INTO job_leases (job_id, lease_id, lease_keys, check_at, expires_at)
    VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"""
_TAKE_LEASE = "DELETE FROM job_leases WHERE job_id = ? RETURNING lease_id, lease_keys"
_LEASE_COLUMNS_V3 = {
    "check_at": "ALTER TABLE job_leases ADD COLUMN check_at REAL NOT NULL DEFAULT 0",
    "expires_at": "ALTER TABLE job_leases ADD COLUMN expires_at REAL",
}
_LEASES_BY_CHECK = "CREATE INDEX IF NOT EXISTS job_leases_check_at ON job_leases (check_at)"
_PRUNE_LEASES = "DELETE FROM job_leases WHERE expires_at <= :now"
# One statement: of two replicas claiming at once, each lease goes to one of them.
_CLAIM_LEASES = """UPDATE job_leases SET check_at = :until WHERE job_id IN (
    SELECT job_id FROM job_leases WHERE check_at <= :now ORDER BY check_at LIMIT :limit)
    RETURNING job_id, check_at"""
_INSERT_PHASE = "INSERT INTO phase_changes (phase, actor, changed_at) VALUES (?, ?, ?)"
_SELECT_JOBS = "SELECT job_id, principal, created_at FROM jobs WHERE principal = :principal"
# The cursor is resolved inside the query and only among the principal's own jobs: a job
# id of somebody else yields NULL, which compares false, so the page is empty.
_AFTER = "(SELECT seq FROM jobs WHERE job_id = :after AND principal = :principal)"
_PAGES = {
    (False, False): f"{_SELECT_JOBS} ORDER BY seq LIMIT :limit",
    (False, True): f"{_SELECT_JOBS} AND seq > {_AFTER} ORDER BY seq LIMIT :limit",
    (True, False): f"{_SELECT_JOBS} ORDER BY seq DESC LIMIT :limit",
    (True, True): f"{_SELECT_JOBS} AND seq < {_AFTER} ORDER BY seq DESC LIMIT :limit",
}


class _Busy(Exception):
    """Another connection holds the lock this inline call would have had to wait for."""


class SchemaVersionError(RuntimeError):
    """The file was written by a newer gateway whose schema this code does not know."""


@contextmanager
def _transaction(conn: sqlite3.Connection, begin: str = "BEGIN IMMEDIATE") -> Iterator[None]:
    # IMMEDIATE takes the write lock up front: a deferred transaction that reads and then
    # writes can fail with "locked" at the upgrade without the busy timeout ever applying.
    conn.execute(begin)
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _bump_revision(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'revision'")


def _checkpoint(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")


def _revision(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = 'revision'").fetchone()
    return int(row[0])


class SqliteStore:
    """`Store` on a SQLite file in WAL mode; safe to share between processes."""

    def __init__(self, path: Path, *, busy_timeout: float = 5.0) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        self._conn: sqlite3.Connection | None = None
        self._inline: sqlite3.Connection | None = None
        self._inline_writes = 0
        self._closed = False

    @classmethod
    async def open(cls, path: Path, *, busy_timeout: float = 5.0) -> SqliteStore:
        """A store whose file is already opened and migrated, so that errors surface here."""
        store = cls(path, busy_timeout=busy_timeout)
        try:
            await store._run(lambda _conn: None)
        except BaseException:
            await store.close()
            raise
        return store

    # Plumbing: `_call` and everything it calls run on the worker thread.

    async def _run(self, work: Callable[[sqlite3.Connection], _T], *, hot: bool = False) -> _T:
        if self._closed:
            raise StoreUnavailable("the store is closed")
        # The worker connection creates and migrates the file, so it goes first.
        if hot and self._conn is not None:
            try:
                return self._call_inline(work)
            except _Busy:
                pass
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._call, work)

    def _call_inline(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        try:
            if self._inline is None:
                # timeout=0: a held lock is reported at once instead of waited for.
                self._inline = sqlite3.connect(self._path, timeout=0, isolation_level=None)
                # Per connection, like the worker's: WAL commits without an fsync each.
                self._inline.execute("PRAGMA synchronous = NORMAL")
                self._inline.execute("PRAGMA wal_autocheckpoint = 0")
            conn = self._inline
            changes_before = conn.total_changes
            result = work(conn)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode in _BUSY_CODES:
                raise _Busy from exc
            raise StoreUnavailable(f"the SQLite store at {self._path} failed: {exc}") from exc
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(f"the SQLite store at {self._path} failed: {exc}") from exc
        if conn.total_changes != changes_before:
            self._after_inline_write()
        return result

    def _after_inline_write(self) -> None:
        self._inline_writes += 1
        if self._inline_writes % _CHECKPOINT_EVERY_WRITES == 0:
            # A checkpoint fsyncs; that belongs on the worker thread, not the event loop.
            self._executor.submit(self._call, _checkpoint)

    def _call(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        try:
            if self._conn is None:
                self._conn = self._connect()
            return work(self._conn)
        except (sqlite3.Error, OSError) as exc:
            # sqlite messages name tables and constraints, never the bound values.
            raise StoreUnavailable(f"the SQLite store at {self._path} failed: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Created here rather than by sqlite so the file never exists with the umask's mode:
        # it holds private keys. SQLite gives its -wal and -shm files the same mode.
        try:
            os.close(os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            # An existing file is never opened (and closed) here: closing any descriptor of
            # it drops every POSIX lock this process holds on it, SQLite's own included, and
            # another process could then take the file for unused and delete its WAL.
            if self._path.stat().st_mode & 0o077:
                self._path.chmod(0o600)
        # isolation_level=None: the module starts no transactions of its own; we BEGIN.
        conn = sqlite3.connect(self._path, timeout=self._busy_timeout, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            # In WAL mode NORMAL can lose the last commits on power loss, never corrupt;
            # an admin re-running a revocation is an acceptable price for fewer fsyncs.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        with _transaction(conn):
            conn.execute(_META)
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            found = 0 if row is None else int(row[0])
            if found > SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"the store at {self._path} has schema version {found}, but this gateway "
                    f"knows only up to {SCHEMA_VERSION}; upgrade the gateway"
                )
            # Each version adds what it needs below; `if 0 < found < N:` steps bring
            # a file of an earlier version up to date once its tables exist.
            for statement in (*_TABLES, *review_sql.TABLES):
                conn.execute(statement)
            if 0 < found < 2:
                conn.execute(review_sql.BACKFILL)
            if 0 < found < 3:
                # Bindings made before version 3 are due for a check at once.
                present = {row[1] for row in conn.execute("PRAGMA table_info(job_leases)")}
                for column, statement in _LEASE_COLUMNS_V3.items():
                    if column not in present:
                        conn.execute(statement)
            conn.execute(_LEASES_BY_CHECK)
            conn.executemany(
                "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                [("schema_version", SCHEMA_VERSION), ("revision", 0)],
            )
            conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'", (SCHEMA_VERSION,)
            )

    def _close_connection(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    def _close_inline(self) -> None:
        if self._inline is not None:
            inline, self._inline = self._inline, None
            inline.close()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._close_inline()
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._close_connection)
        finally:
            self._executor.shutdown(wait=False)

    async def _rows(self, query: str, params: Params = (), *, hot: bool = False) -> list[Any]:
        return await self._run(lambda conn: conn.execute(query, params).fetchall(), hot=hot)

    async def _change(
        self, query: str, params: Params, *, bump: bool = True, hot: bool = False
    ) -> int:
        """Run one write; the revision moves with it, in its transaction, if it changed rows."""

        def work(conn: sqlite3.Connection) -> int:
            if not bump:
                return conn.execute(query, params).rowcount
            with _transaction(conn):
                count = conn.execute(query, params).rowcount
                if count:
                    _bump_revision(conn)
                return count

        return await self._run(work, hot=hot)

    # Grants and revocation

    async def add_grant(self, grant: Grant) -> None:
        holder = (grant.principal, grant.tier, grant.client_id, grant.secret_hash)
        times = (grant.created_at, grant.expires_at, grant.revoked_at)
        if not await self._change(_INSERT_GRANT, (*holder, *times)):
            raise ValueError(f"a grant for client {grant.client_id!r} already exists")

    async def grant(self, client_id: str) -> Grant | None:
        rows = await self._rows(_SELECT_GRANT, (client_id,))
        return Grant(*rows[0]) if rows else None

    async def grants(self) -> list[Grant]:
        return [Grant(*row) for row in await self._rows(_SELECT_GRANTS)]

    # A grant whose revocation lies in the future is still live: revoking brings it forward.
    async def revoke_principal(self, principal: str, at: float) -> int:
        return await self._change(_REVOKE_PRINCIPAL, (at, principal, at))

    async def revoke_client(self, client_id: str, at: float) -> bool:
        return await self._change(_REVOKE_CLIENT, (at, client_id, at)) > 0

    async def revoke_token(self, jti: str, expires_at: float, at: float) -> None:
        def work(conn: sqlite3.Connection) -> None:
            with _transaction(conn):
                conn.execute(_REVOKE_JTI, (jti, expires_at, at))
                conn.execute(_PRUNE_JTIS, (at - PRUNE_AFTER_SECONDS,))
                _bump_revision(conn)

        await self._run(work)

    async def revocation_view(self, now: float) -> RevocationView:
        def work(conn: sqlite3.Connection) -> RevocationView:
            # One read transaction is one WAL snapshot: the revision matches the rows.
            with _transaction(conn, "BEGIN DEFERRED"):
                grants = {row[2]: Grant(*row) for row in conn.execute(_SELECT_GRANTS)}
                jtis = conn.execute("SELECT jti FROM revoked_tokens WHERE expires_at > ?", (now,))
                revoked = frozenset(jti for (jti,) in jtis)
                revision = _revision(conn)
            return RevocationView(MappingProxyType(grants), revoked, revision)

        return await self._run(work)

    async def revision(self) -> int:
        return await self._run(_revision, hot=True)

    # Signing keys

    async def add_key(self, key: StoredKey) -> None:
        values = (key.kid, key.private_pem, key.created_at, key.retire_at)
        if not await self._change(_INSERT_KEY, values):
            raise ValueError(f"a signing key with kid {key.kid!r} already exists")

    async def keys(self) -> list[StoredKey]:
        return [StoredKey(*row) for row in await self._rows(_SELECT_KEYS)]

    async def schedule_retirement(self, kid: str, retire_at: float) -> bool:
        if await self._change(_RETIRE_KEY, (retire_at, kid, retire_at)):
            return True
        # Nothing moved: either the key retires no later already, or it does not exist.
        return bool(await self._rows("SELECT 1 FROM signing_keys WHERE kid = ?", (kid,)))

    # Job ownership: written on every generation request, so it never moves the revision.

    async def record_job(self, job: OwnedJob, *, lease: JobLease | None = None) -> None:
        values = (job.job_id, job.principal, job.created_at)
        if lease is None:
            await self._change(_INSERT_JOB, values, bump=False, hot=True)
            return
        binding = (
            job.job_id,
            lease.lease_id,
            "\n".join(lease.keys),
            job.created_at + lease.reconcile_after,
            job.created_at + lease.ttl,
        )

        def work(conn: sqlite3.Connection) -> None:
            with _transaction(conn):
                conn.execute(_INSERT_JOB, values)
                conn.execute(_BIND_LEASE, binding)

        await self._run(work, hot=True)

    async def job_owner(self, job_id: str) -> str | None:
        query = "SELECT principal FROM jobs WHERE job_id = ?"
        rows = await self._rows(query, (job_id,), hot=True)
        return str(rows[0][0]) if rows else None

    async def owned_jobs(
        self, principal: str, *, after: str | None, limit: int, newest_first: bool
    ) -> list[OwnedJob]:
        if limit < 0:
            raise ValueError("limit must not be negative")  # sqlite reads it as "no limit"
        params = {"principal": principal, "after": after, "limit": limit}
        return [
            OwnedJob(*row)
            for row in await self._rows(_PAGES[newest_first, after is not None], params, hot=True)
        ]

    async def forget_job(self, job_id: str) -> None:
        await self._change("DELETE FROM jobs WHERE job_id = ?", (job_id,), bump=False, hot=True)

    # Held generation requests and their reviews: never moving the revision either.

    async def hold_request(
        self,
        held: HeldRequest,
        *,
        expires_at: float,
        request_id: str | None = None,
        charges: Sequence[LimitCheck] = (),
    ) -> None:
        def work(conn: sqlite3.Connection) -> bool:
            with _transaction(conn):
                return review_sql.hold(
                    conn, held, expires_at=expires_at, request_id=request_id, charges=charges
                )

        if not await self._run(work):
            raise ValueError(f"a held request {held.video_id!r} already exists")

    async def held_request(self, video_id: str) -> HeldRequest | None:
        rows = await self._rows(_SELECT_HELD, (video_id,), hot=True)
        if not rows:
            return None
        row = list(rows[0])
        row[7] = tuple(row[7].split("\n")) if row[7] else ()
        return HeldRequest(*row)

    async def review(self, video_id: str) -> Review | None:
        return await self._run(lambda conn: review_sql.read(conn, video_id), hot=True)

    async def reviews(self, states: Collection[ReviewState]) -> list[Review]:
        return await self._run(lambda conn: review_sql.in_states(conn, states))

    async def move_review(self, video_id: str, transition: ReviewTransition) -> ReviewMove:
        def work(conn: sqlite3.Connection) -> ReviewMove:
            with _transaction(conn):
                return review_sql.move(conn, video_id, transition)

        return await self._run(work)

    async def due_reviews(self, now: float) -> list[Review]:
        return await self._run(lambda conn: review_sql.due(conn, now), hot=True)

    async def settle_review(self, video_id: str) -> tuple[LimitCheck, ...] | None:
        return await self._run(lambda conn: review_sql.settle(conn, video_id))

    # Idempotency keys: written on generation requests, so they never move the revision.

    async def claim_idempotency(
        self, principal: str, key: str, fingerprint: str, now: float, expires_at: float
    ) -> IdempotencyRecord | None:
        def work(conn: sqlite3.Connection) -> IdempotencyRecord | None:
            with _transaction(conn):
                # Expired records are absent: pruning them first lets the insert claim.
                conn.execute(_PRUNE_IDEMPOTENCY, (now,))
                values = (principal, key, fingerprint, now, expires_at)
                if conn.execute(_CLAIM_IDEMPOTENCY, values).rowcount:
                    return None
                row = conn.execute(_SELECT_IDEMPOTENCY, (principal, key)).fetchone()
            fingerprint_, state, status, content_type, body, expires = row
            return IdempotencyRecord(
                fingerprint_, IdempotencyState(state), status, content_type, body, expires
            )

        return await self._run(work, hot=True)

    async def complete_idempotency(
        self,
        principal: str,
        key: str,
        status: int,
        content_type: str,
        body: bytes,
        *,
        expires_at: float,
    ) -> None:
        values = (status, content_type, body, expires_at, principal, key)
        await self._change(_COMPLETE_IDEMPOTENCY, values, bump=False, hot=True)

    async def release_idempotency(self, principal: str, key: str) -> None:
        await self._change(_RELEASE_IDEMPOTENCY, (principal, key), bump=False, hot=True)

    # Concurrency leases of jobs (bound by `record_job`; rows stay until taken, or until a
    # reconciler's claim finds them past their lease's lifetime)

    async def take_lease(self, job_id: str) -> tuple[str, tuple[str, ...]] | None:
        # DELETE ... RETURNING is one statement: of two replicas, one gets the row.
        rows = await self._run(
            lambda conn: conn.execute(_TAKE_LEASE, (job_id,)).fetchall(), hot=True
        )
        if not rows:
            return None
        lease_id, keys = rows[0]
        return str(lease_id), tuple(str(keys).split("\n"))

    async def claim_due_leases(self, now: float, *, until: float, limit: int) -> list[str]:
        if limit < 0:
            raise ValueError("limit must not be negative")  # sqlite reads it as "no limit"

        def work(conn: sqlite3.Connection) -> list[str]:
            with _transaction(conn):
                conn.execute(_PRUNE_LEASES, {"now": now})
                params = {"now": now, "until": until, "limit": limit}
                rows = conn.execute(_CLAIM_LEASES, params).fetchall()
            return [str(job_id) for job_id, _ in rows]

        return await self._run(work)

    # Rollout phase

    async def phase(self) -> str | None:
        rows = await self._rows("SELECT phase FROM phase_changes ORDER BY seq DESC LIMIT 1")
        return str(rows[0][0]) if rows else None

    async def set_phase(self, change: PhaseChange) -> None:
        await self._change(_INSERT_PHASE, (change.phase, change.actor, change.changed_at))

    async def phase_history(self) -> list[PhaseChange]:
        rows = await self._rows("SELECT phase, actor, changed_at FROM phase_changes ORDER BY seq")
        return [PhaseChange(*row) for row in rows]
