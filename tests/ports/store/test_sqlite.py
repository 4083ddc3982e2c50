"""What only the SQLite adapter promises: the file, its sharing between processes, locking."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
import sys
import time
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import pytest

from gateway.core.identity import OwnedJob
from gateway.ports.store import SqliteStore, Store, StoreUnavailable, open_store
from gateway.ports.store.sqlite import SCHEMA_VERSION, SchemaVersionError
from tests.ports.store.records import make_grant

PROJECT_ROOT = Path(__file__).resolve().parents[3]

# Run by a second interpreter: revokes through its own store on the same file.
REVOKER = """
import asyncio, sys
from pathlib import Path
from gateway.ports.store import SqliteStore

async def main() -> None:
    store = await SqliteStore.open(Path(sys.argv[1]))
    try:
        await store.revoke_client("c1", at=150.0)
        await store.revoke_token("jti-1", expires_at=900.0, at=150.0)
    finally:
        await store.close()

asyncio.run(main())
"""


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _plant(path: Path, content: bytes, mode: int) -> None:
    """Put a file where the store will look, as some other tool might have."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    path.chmod(mode)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "store.db"


@pytest.fixture
async def sqlite_store(path: Path) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(path)
    yield store
    await store.close()


def test_sqlite_store_satisfies_the_protocol(path: Path) -> None:
    """The adapter is a `Store` as far as the type checker is concerned (mypy runs on this)."""
    store: Store = SqliteStore(path)
    assert isinstance(store, SqliteStore)


async def test_file_is_private_to_its_owner(sqlite_store: SqliteStore, path: Path) -> None:
    """The file holds private keys and secret hashes, so only its owner may read it."""
    await sqlite_store.add_grant(make_grant("c1"))
    assert _mode(path) == 0o600


async def test_loose_mode_of_an_existing_file_is_tightened(path: Path) -> None:
    """A file created world-readable by someone else is made private on open."""
    _plant(path, b"", 0o644)
    store = await SqliteStore.open(path)
    await store.close()
    assert _mode(path) == 0o600


async def test_file_is_in_wal_mode(sqlite_store: SqliteStore, path: Path) -> None:
    """WAL lets readers carry on while another process writes."""
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
            SCHEMA_VERSION,
        )


async def test_two_stores_on_one_file_see_each_others_writes(
    sqlite_store: SqliteStore, path: Path
) -> None:
    """A second store on the same file reads what the first wrote, revision included."""
    other = await SqliteStore.open(path)
    try:
        await sqlite_store.add_grant(make_grant("c1"))
        assert await other.grant("c1") == make_grant("c1")
        assert await other.revision() == await sqlite_store.revision()
        await other.revoke_client("c1", at=200.0)
        view = await sqlite_store.revocation_view(now=300.0)
        assert view.refusal("c1", "alice", "jti", now=300.0) == "the grant was revoked"
    finally:
        await other.close()


async def test_revocation_by_another_process_is_observed(
    sqlite_store: SqliteStore, path: Path
) -> None:
    """A revocation written by the admin CLI's process moves the revision and shows in the view."""
    await sqlite_store.add_grant(make_grant("c1"))
    before = await sqlite_store.revision()
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", REVOKER, str(path), cwd=PROJECT_ROOT
    )
    assert await asyncio.wait_for(child.wait(), timeout=30) == 0

    assert await sqlite_store.revision() > before
    view = await sqlite_store.revocation_view(now=200.0)
    assert view.revision == await sqlite_store.revision()
    assert view.grants["c1"].revoked_at == 150.0
    assert view.revoked_jtis == frozenset({"jti-1"})


# Run by a second interpreter: records one job, or prints the owner of one, then closes.
JOB_WRITER = """
import asyncio, sys
from pathlib import Path
from gateway.core.identity import OwnedJob
from gateway.ports.store import SqliteStore

async def main() -> None:
    store = await SqliteStore.open(Path(sys.argv[1]))
    try:
        if sys.argv[2] == "write":
            await store.record_job(OwnedJob("job-child", "carol", 1.0))
        else:
            print(await store.job_owner(sys.argv[3]))
    finally:
        await store.close()

asyncio.run(main())
"""


async def _child(path: Path, *args: str) -> str:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        JOB_WRITER,
        str(path),
        *args,
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(child.communicate(), timeout=30)
    assert child.returncode == 0
    return out.decode().strip()


async def test_a_second_store_in_one_process_keeps_the_first_ones_writes_shared(
    sqlite_store: SqliteStore, path: Path
) -> None:
    """Opening and closing another store on the file in the same process (as the tests and
    the CLI do) must not cost the first its locks: otherwise the next process to close
    takes the file for unused, deletes its WAL, and the first store's later writes are
    seen by nobody else."""
    await sqlite_store.record_job(OwnedJob("job-before", "alice", 1.0))
    await (await SqliteStore.open(path)).close()
    assert await _child(path, "write") == ""
    await sqlite_store.record_job(OwnedJob("job-after", "bob", 2.0))
    assert await _child(path, "read", "job-after") == "bob"


async def test_locked_file_fails_writes_within_the_busy_timeout(path: Path) -> None:
    """A write lock held elsewhere makes writes unavailable after the busy timeout, not never,
    without blocking the event loop, and reads carry on meanwhile."""
    store = await SqliteStore.open(path, busy_timeout=0.2)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    with closing(sqlite3.connect(path, isolation_level=None)) as holder:
        holder.execute("BEGIN EXCLUSIVE")
        ticker = asyncio.create_task(tick())
        try:
            started = time.monotonic()
            with pytest.raises(StoreUnavailable, match="locked") as raised:
                await store.add_grant(make_grant("c1"))
            elapsed = time.monotonic() - started
            assert await store.revision() == 0
        finally:
            ticker.cancel()
            holder.execute("ROLLBACK")
            await store.close()
    assert 0.15 <= elapsed < 2.0
    assert ticks >= 5
    assert "hash-of-c1" not in str(raised.value)


async def test_newer_schema_is_refused(path: Path) -> None:
    """A file migrated by a newer gateway is refused with the versions named, not misread."""
    await (await SqliteStore.open(path)).close()
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'", (SCHEMA_VERSION + 1,)
        )
    with pytest.raises(SchemaVersionError, match=f"schema version {SCHEMA_VERSION + 1}"):
        await SqliteStore.open(path)


async def test_lease_bindings_of_a_version_2_file_are_due_for_a_check_at_once(
    path: Path,
) -> None:
    """Bindings from before the reconciler said nothing of their timing: each is checked
    at the first claim, and still taken (and freed) exactly once."""
    await (await SqliteStore.open(path)).close()
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("DROP TABLE job_leases")
        conn.execute(
            "CREATE TABLE job_leases (job_id TEXT PRIMARY KEY, lease_id TEXT NOT NULL, "
            "lease_keys TEXT NOT NULL)"
        )
        conn.execute("INSERT INTO job_leases VALUES ('video_old', 'req-1', 't:a\nt:b')")
        conn.execute("UPDATE meta SET value = 2 WHERE key = 'schema_version'")
    store = await SqliteStore.open(path)
    try:
        assert await store.claim_due_leases(1.0, until=100.0, limit=10) == ["video_old"]
        assert await store.take_lease("video_old") == ("req-1", ("t:a", "t:b"))
    finally:
        await store.close()
    with closing(sqlite3.connect(path)) as conn:
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert version == (SCHEMA_VERSION,) == (3,)


async def test_closed_store_is_unavailable(path: Path) -> None:
    """Using a store after closing it raises rather than reopening behind the caller's back."""
    store = await SqliteStore.open(path)
    await store.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        await store.revision()


async def test_file_that_is_not_a_database_is_unavailable(path: Path) -> None:
    """A corrupt or foreign file is reported as an unavailable store."""
    _plant(path, b"not a database" * 100, 0o600)
    with pytest.raises(StoreUnavailable, match="not a database"):
        await SqliteStore.open(path)


async def test_open_store_resolves_relative_and_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three slashes mean relative to the working directory, four an absolute path."""
    monkeypatch.chdir(tmp_path)
    relative = open_store("sqlite:///rel/store.db")
    absolute = open_store(f"sqlite:///{tmp_path}/abs/store.db")
    try:
        await relative.add_grant(make_grant("c1"))
        await absolute.add_grant(make_grant("c2"))
    finally:
        await relative.close()
        await absolute.close()
    assert (tmp_path / "rel" / "store.db").is_file()
    assert (tmp_path / "abs" / "store.db").is_file()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgres://:hunter2@db:5432/state", "unsupported store URL scheme 'postgres'"),
        ("hunter2@cache", "no scheme"),
        ("sqlite://", "sqlite:///relative/path"),
        ("sqlite://host/store.db", "sqlite:///relative/path"),
    ],
)
def test_open_store_refuses_other_urls_without_echoing_them(url: str, message: str) -> None:
    """Unknown schemes and malformed sqlite URLs are refused, and a password never leaks."""
    with pytest.raises(ValueError, match=message) as raised:
        open_store(url)
    assert "hunter2" not in str(raised.value)


async def test_request_path_write_waits_out_a_short_lock_off_the_loop(path: Path) -> None:
    """A job recorded while another process briefly holds the write lock is stored, not
    refused, and the event loop keeps running while it waits."""
    store = await SqliteStore.open(path, busy_timeout=2.0)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    with closing(sqlite3.connect(path, isolation_level=None)) as holder:
        holder.execute("BEGIN IMMEDIATE")
        asyncio.get_running_loop().call_later(0.2, holder.execute, "COMMIT")
        ticker = asyncio.create_task(tick())
        try:
            await store.record_job(OwnedJob("video_1", "alice", 1.0))
            # Reads on the request path never wait for a writer in WAL mode.
            assert await store.job_owner("video_1") == "alice"
        finally:
            ticker.cancel()
            await store.close()
    assert ticks >= 10
