"""What every `Store` adapter promises, run against each backend in `conftest.BACKENDS`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from gateway.core.idempotency import IdempotencyRecord, IdempotencyState
from gateway.core.identity import JobLease, PhaseChange
from gateway.ports.store import Store
from tests.ports.store.records import make_grant, make_job, make_key


async def test_added_grant_reads_back_by_client_id(store: Store) -> None:
    """A grant reads back field for field, and an unknown client id reads as None."""
    grant = make_grant("c1", expires_at=500.0)
    await store.add_grant(grant)
    assert await store.grant("c1") == grant
    assert await store.grant("nobody") is None


async def test_grants_lists_every_grant_oldest_first(store: Store) -> None:
    """The listing holds revoked grants too, ordered by creation time."""
    late = make_grant("late", created_at=300.0)
    early = make_grant("early", "bob", created_at=100.0, revoked_at=150.0)
    await store.add_grant(late)
    await store.add_grant(early)
    assert await store.grants() == [early, late]


async def test_duplicate_client_id_is_refused(store: Store) -> None:
    """A second grant with a taken client id raises and leaves the first untouched."""
    first = make_grant("c1", "alice")
    await store.add_grant(first)
    with pytest.raises(ValueError, match="already exists"):
        await store.add_grant(make_grant("c1", "mallory"))
    assert await store.grant("c1") == first


async def test_revoke_principal_revokes_only_their_live_grants(store: Store) -> None:
    """Revoking a principal stamps each of its unrevoked grants, counts them, spares others."""
    await store.add_grant(make_grant("a1", "alice"))
    await store.add_grant(make_grant("a2", "alice"))
    await store.add_grant(make_grant("a3", "alice", revoked_at=120.0))
    await store.add_grant(make_grant("b1", "bob"))

    assert await store.revoke_principal("alice", at=200.0) == 2
    assert await store.revoke_principal("alice", at=300.0) == 0
    assert [(g.client_id, g.revoked_at) for g in await store.grants()] == [
        ("a1", 200.0),
        ("a2", 200.0),
        ("a3", 120.0),
        ("b1", None),
    ]


async def test_revoke_client_reports_whether_it_revoked(store: Store) -> None:
    """Revoking a client is True once, then False; unknown clients give False."""
    await store.add_grant(make_grant("c1"))
    assert await store.revoke_client("c1", at=200.0) is True
    assert await store.revoke_client("c1", at=300.0) is False
    assert await store.revoke_client("nobody", at=300.0) is False
    revoked = await store.grant("c1")
    assert revoked is not None
    assert revoked.revoked_at == 200.0


async def test_revoking_brings_a_future_revocation_forward(store: Store) -> None:
    """A grant due to be revoked later is still live, so revoking it now takes effect now."""
    await store.add_grant(make_grant("c1", revoked_at=900.0))
    assert await store.revoke_client("c1", at=200.0) is True
    revoked = await store.grant("c1")
    assert revoked is not None
    assert revoked.revoked_at == 200.0


async def test_revoked_token_is_in_the_view_until_it_expires(store: Store) -> None:
    """A revoked jti is refused while the token could still be valid, then drops out."""
    await store.revoke_token("jti-1", expires_at=200.0, at=100.0)
    assert "jti-1" in (await store.revocation_view(now=150.0)).revoked_jtis
    assert "jti-1" not in (await store.revocation_view(now=200.0)).revoked_jtis


async def test_revocation_view_holds_grants_and_the_current_revision(store: Store) -> None:
    """The view keys every grant by client id and carries the revision it was read at."""
    await store.add_grant(make_grant("c1"))
    await store.add_grant(make_grant("c2", "bob", revoked_at=150.0))
    view = await store.revocation_view(now=200.0)
    assert dict(view.grants) == {"c1": make_grant("c1"), "c2": await store.grant("c2")}
    assert view.revision == await store.revision()
    assert view.refusal("c2", "bob", "jti", now=200.0) == "the grant was revoked"


async def test_every_admin_mutation_changes_the_revision(store: Store) -> None:
    """Grants, revocations, keys and phase changes each move the revision."""
    await store.add_grant(make_grant("c1", "alice"))
    await store.add_grant(make_grant("c2", "bob"))
    await store.add_key(make_key("k0"))
    mutations: list[Callable[[], Awaitable[object]]] = [
        lambda: store.add_grant(make_grant("c3", "carol")),
        lambda: store.revoke_client("c1", at=200.0),
        lambda: store.revoke_principal("bob", at=200.0),
        lambda: store.revoke_token("jti-1", expires_at=900.0, at=200.0),
        lambda: store.add_key(make_key("k1")),
        lambda: store.schedule_retirement("k0", retire_at=500.0),
        lambda: store.set_phase(PhaseChange("beta", "ops", 200.0)),
    ]
    seen = [await store.revision()]
    for mutation in mutations:
        await mutation()
        seen.append(await store.revision())
    assert len(set(seen)) == len(seen)


async def test_job_writes_leave_the_revision_alone(store: Store) -> None:
    """Recording and forgetting jobs must not make every gateway reload its view."""
    before = await store.revision()
    await store.record_job(make_job("j1"))
    await store.record_job(make_job("j2"), lease=JobLease("req-2", ("t:tier:jobs",), 600.0))
    await store.take_lease("j2")
    await store.forget_job("j1")
    assert await store.revision() == before


async def test_a_jobs_lease_goes_to_exactly_one_taker(store: Store) -> None:
    """The lease recorded with a job is handed out once, however many replicas ask at once;
    a job recorded without one has none."""
    lease = JobLease("req-1", ("t:principal:alice:jobs", "t:tier:jobs"), ttl=600.0)
    await store.record_job(make_job("j1"), lease=lease)
    await store.record_job(make_job("j2"))
    assert await store.job_owner("j1") == "alice"
    taken = await asyncio.gather(*(store.take_lease("j1") for _ in range(5)))
    assert [t for t in taken if t is not None] == [("req-1", lease.keys)]
    assert await store.take_lease("j2") is None
    assert await store.take_lease("unknown") is None


async def test_the_first_lease_bound_to_a_job_stays(store: Store) -> None:
    """Recording a job again with another lease keeps the first binding."""
    await store.record_job(make_job("j1"), lease=JobLease("first", ("t:a",), 600.0))
    await store.record_job(make_job("j1"), lease=JobLease("second", ("t:b",), 600.0))
    assert await store.take_lease("j1") == ("first", ("t:a",))


def _lease(name: str, *, ttl: float = 600.0, reconcile_after: float = 60.0) -> JobLease:
    return JobLease(name, ("t:principal:alice:jobs",), ttl, reconcile_after)


async def test_a_lease_is_due_for_a_check_after_its_reconcile_time(store: Store) -> None:
    """A bound lease is claimed once due, then not again until the claim's `until`."""
    await store.record_job(make_job("j1", created_at=100.0), lease=_lease("r1"))
    await store.record_job(make_job("j2", created_at=100.0))  # no lease: never due
    assert await store.claim_due_leases(159.0, until=219.0, limit=10) == []
    assert await store.claim_due_leases(160.0, until=220.0, limit=10) == ["j1"]
    assert await store.claim_due_leases(160.0, until=220.0, limit=10) == []
    assert await store.claim_due_leases(219.9, until=280.0, limit=10) == []
    assert await store.claim_due_leases(220.0, until=280.0, limit=10) == ["j1"]


async def test_concurrent_claims_share_the_due_leases_without_overlap(store: Store) -> None:
    """Replicas claiming at once each get their own share: every due lease goes to one."""
    for index in range(12):
        await store.record_job(make_job(f"j{index}", created_at=100.0), lease=_lease(f"r{index}"))
    claims = await asyncio.gather(
        *(store.claim_due_leases(500.0, until=600.0, limit=5) for _ in range(4))
    )
    claimed = [job_id for claim in claims for job_id in claim]
    assert sorted(claimed) == sorted(f"j{index}" for index in range(12))
    assert all(len(claim) <= 5 for claim in claims)


async def test_a_claim_takes_the_longest_due_first(store: Store) -> None:
    for index, created_at in enumerate((300.0, 100.0, 200.0)):
        await store.record_job(make_job(f"j{index}", created_at=created_at), lease=_lease("r"))
    assert sorted(await store.claim_due_leases(500.0, until=2000.0, limit=2)) == ["j1", "j2"]
    assert await store.claim_due_leases(500.0, until=2000.0, limit=2) == ["j0"]


async def test_a_taken_or_expired_lease_is_never_claimed(store: Store) -> None:
    """Once freed (taken) or run out (past its ttl), a lease has nothing left to check."""
    await store.record_job(make_job("taken", created_at=100.0), lease=_lease("r1"))
    await store.record_job(make_job("old", created_at=100.0), lease=_lease("r2", ttl=120.0))
    assert await store.take_lease("taken") == ("r1", ("t:principal:alice:jobs",))
    assert await store.claim_due_leases(220.0, until=300.0, limit=10) == []
    await store.record_job(make_job("fresh", created_at=200.0), lease=_lease("r3"))
    assert await store.claim_due_leases(260.0, until=300.0, limit=10) == ["fresh"]


async def test_claiming_nothing_claims_nothing(store: Store) -> None:
    await store.record_job(make_job("j1", created_at=100.0), lease=_lease("r1"))
    assert await store.claim_due_leases(500.0, until=600.0, limit=0) == []
    assert await store.claim_due_leases(500.0, until=600.0, limit=1) == ["j1"]


async def test_keys_list_oldest_first_and_refuse_duplicates(store: Store) -> None:
    """Keys read back in creation order with their private PEM, and a kid is unique."""
    newer = make_key("k2", created_at=200.0)
    older = make_key("k1", created_at=100.0, retire_at=900.0)
    await store.add_key(newer)
    await store.add_key(older)
    with pytest.raises(ValueError, match="already exists"):
        await store.add_key(make_key("k1", created_at=300.0))
    assert await store.keys() == [older, newer]


async def test_retirement_is_only_ever_brought_forward(store: Store) -> None:
    """Scheduling sets a retirement, an earlier one wins, a later one is ignored."""
    await store.add_key(make_key("k1"))
    assert await store.schedule_retirement("k1", retire_at=500.0) is True
    assert await store.schedule_retirement("k1", retire_at=400.0) is True
    assert await store.schedule_retirement("k1", retire_at=800.0) is True
    assert [k.retire_at for k in await store.keys()] == [400.0]
    assert await store.schedule_retirement("unknown", retire_at=400.0) is False


async def test_first_recorded_owner_of_a_job_wins(store: Store) -> None:
    """Recording a job id again, even for someone else, keeps the first owner."""
    await store.record_job(make_job("j1", "alice"))
    await store.record_job(make_job("j1", "mallory", created_at=200.0))
    assert await store.job_owner("j1") == "alice"
    assert await store.owned_jobs("mallory", after=None, limit=10, newest_first=False) == []
    assert await store.job_owner("unknown") is None


async def _five_jobs(store: Store) -> list[str]:
    # Equal timestamps and another principal's jobs in between: order must come from
    # creation order, and pages must skip what is not alice's.
    ids = []
    for n in range(5):
        await store.record_job(make_job(f"a{n}", "alice", created_at=100.0))
        await store.record_job(make_job(f"b{n}", "bob", created_at=100.0))
        ids.append(f"a{n}")
    return ids


@pytest.mark.parametrize("newest_first", [False, True])
async def test_owned_jobs_pages_walk_every_job_once(store: Store, newest_first: bool) -> None:
    """Pages of two, each starting after the last id seen, visit all five jobs in order."""
    ids = await _five_jobs(store)
    expected = list(reversed(ids)) if newest_first else ids
    pages: list[list[str]] = []
    after: str | None = None
    while True:
        page = await store.owned_jobs("alice", after=after, limit=2, newest_first=newest_first)
        if not page:
            break
        pages.append([job.job_id for job in page])
        after = page[-1].job_id
    assert pages == [expected[0:2], expected[2:4], expected[4:5]]


async def test_owned_jobs_cursor_of_another_principal_yields_nothing(store: Store) -> None:
    """A cursor that is not one of the principal's jobs gives an empty page, leaking nothing."""
    await _five_jobs(store)
    for after in ("b1", "unknown"):
        for newest_first in (False, True):
            page = await store.owned_jobs("alice", after=after, limit=10, newest_first=newest_first)
            assert page == []


async def test_owned_jobs_limit_caps_the_page(store: Store) -> None:
    """A limit of zero gives nothing; a large limit gives everything there is."""
    ids = await _five_jobs(store)
    assert await store.owned_jobs("alice", after=None, limit=0, newest_first=False) == []
    page = await store.owned_jobs("alice", after=None, limit=100, newest_first=False)
    assert page == [make_job(job_id, "alice") for job_id in ids]


async def test_forgotten_job_has_no_owner_and_leaves_listings(store: Store) -> None:
    """Forgetting removes the job everywhere; forgetting an unknown job is harmless."""
    await _five_jobs(store)
    await store.forget_job("a2")
    await store.forget_job("unknown")
    assert await store.job_owner("a2") is None
    page = await store.owned_jobs("alice", after="a1", limit=10, newest_first=False)
    assert [job.job_id for job in page] == ["a3", "a4"]


async def test_phase_is_the_latest_change_and_history_keeps_them_all(store: Store) -> None:
    """No phase until one is set; then the latest wins and the history lists all, oldest first."""
    assert await store.phase() is None
    assert await store.phase_history() == []
    changes = [
        PhaseChange("internal", "ops", 100.0),
        PhaseChange("beta", "alice", 200.0),
        PhaseChange("internal", "bob", 200.0),
    ]
    for change in changes:
        await store.set_phase(change)
    assert await store.phase() == "internal"
    assert await store.phase_history() == changes


async def test_close_is_idempotent(store: Store) -> None:
    """Closing twice is fine (the fixture closes a third time)."""
    await store.close()
    await store.close()


async def test_first_claim_of_an_idempotency_key_wins(store: Store) -> None:
    """Claiming a fresh key gives None; claiming it again gives the claim, in progress."""
    assert await store.claim_idempotency("alice", "k1", "f1", 100.0, 200.0) is None
    again = await store.claim_idempotency("alice", "k1", "f2", 150.0, 250.0)
    assert again == IdempotencyRecord("f1", IdempotencyState.IN_PROGRESS, None, None, None, 200.0)


async def test_completed_idempotency_key_keeps_the_answer(store: Store) -> None:
    """A completed key reads back with its status, content type and body bytes."""
    await store.claim_idempotency("alice", "k1", "f1", 100.0, 200.0)
    body = b'{"id": "video_1", "status": "queued"}'
    await store.complete_idempotency(
        "alice", "k1", 200, "application/json", body, expires_at=10_000.0
    )
    kept = await store.claim_idempotency("alice", "k1", "f1", 150.0, 250.0)
    # Completion moves the expiry from the claim's (200) to the answer's retention.
    assert kept == IdempotencyRecord(
        "f1", IdempotencyState.COMPLETED, 200, "application/json", body, 10_000.0
    )
    # Completing again (a second answer racing in) never overwrites the first one.
    await store.complete_idempotency("alice", "k1", 500, "text/plain", b"late", expires_at=10_000.0)
    assert await store.claim_idempotency("alice", "k1", "f1", 150.0, 250.0) == kept


async def test_released_idempotency_key_can_be_claimed_again(store: Store) -> None:
    """Releasing a claim in progress frees the key; releasing a completed one does nothing."""
    await store.claim_idempotency("alice", "k1", "f1", 100.0, 200.0)
    await store.release_idempotency("alice", "k1")
    assert await store.claim_idempotency("alice", "k1", "f2", 110.0, 210.0) is None
    await store.complete_idempotency(
        "alice", "k1", 201, "application/json", b"{}", expires_at=10_000.0
    )
    await store.release_idempotency("alice", "k1")
    await store.release_idempotency("alice", "unknown")
    kept = await store.claim_idempotency("alice", "k1", "f2", 120.0, 220.0)
    assert kept is not None
    assert kept.state is IdempotencyState.COMPLETED
    assert kept.status == 201


async def test_idempotency_keys_are_per_principal(store: Store) -> None:
    """Two principals using the same key each claim their own."""
    assert await store.claim_idempotency("alice", "k1", "f1", 100.0, 200.0) is None
    assert await store.claim_idempotency("bob", "k1", "f1", 100.0, 200.0) is None
    await store.complete_idempotency(
        "bob", "k1", 200, "application/json", b"{}", expires_at=10_000.0
    )
    alices = await store.claim_idempotency("alice", "k1", "f1", 100.0, 200.0)
    assert alices is not None
    assert alices.state is IdempotencyState.IN_PROGRESS


async def test_expired_idempotency_keys_count_as_absent(store: Store) -> None:
    """From its expiry on, a key (completed or not) is claimable afresh by any request."""
    await store.claim_idempotency("alice", "done", "f1", 100.0, 200.0)
    await store.complete_idempotency(
        "alice", "done", 200, "application/json", b"{}", expires_at=200.0
    )
    await store.claim_idempotency("alice", "running", "f1", 100.0, 200.0)
    assert await store.claim_idempotency("alice", "done", "f1", 199.0, 299.0) is not None
    assert await store.claim_idempotency("alice", "done", "f2", 200.0, 300.0) is None
    assert await store.claim_idempotency("alice", "running", "f1", 250.0, 350.0) is None
    again = await store.claim_idempotency("alice", "done", "f3", 260.0, 360.0)
    assert again is not None
    assert (again.fingerprint, again.expires_at) == ("f2", 300.0)


async def test_idempotency_writes_leave_the_revision_alone(store: Store) -> None:
    """Claiming, completing and releasing keys must not make every gateway reload its view."""
    before = await store.revision()
    await store.claim_idempotency("alice", "k1", "f1", 100.0, 200.0)
    await store.complete_idempotency(
        "alice", "k1", 200, "application/json", b"{}", expires_at=10_000.0
    )
    await store.claim_idempotency("alice", "k2", "f1", 100.0, 200.0)
    await store.release_idempotency("alice", "k2")
    await store.claim_idempotency("alice", "k3", "f1", 300.0, 400.0)
    assert await store.revision() == before


async def test_concurrent_claims_of_one_idempotency_key_have_one_winner(store: Store) -> None:
    """Of many claims at once, exactly one gets the key and the others see its claim."""
    claims = await asyncio.gather(
        *(store.claim_idempotency("alice", "k1", f"f{n}", 100.0, 200.0) for n in range(10))
    )
    winners = [n for n, claim in enumerate(claims) if claim is None]
    assert len(winners) == 1
    assert {claim.fingerprint for claim in claims if claim is not None} == {f"f{winners[0]}"}
