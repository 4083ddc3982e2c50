from __future__ import annotations

import pytest

from gateway.mockmodel.jobs import EXPIRY_SECONDS, JobNotFoundError, JobStore
from tests.mockmodel.support import START, FakeClock


def make_store(clock: FakeClock, *, job_seconds: float = 10.0, max_jobs: int = 100) -> JobStore:
    return JobStore(job_seconds=job_seconds, clock=clock, max_jobs=max_jobs)


def create(store: JobStore, prompt: str = "a cat") -> str:
    return store.create(model="sora-2", prompt=prompt, size="720x1280", seconds="4").id


@pytest.mark.parametrize(
    ("elapsed", "status", "progress"),
    [
        (-5.0, "queued", 0),
        (0.0, "queued", 0),
        (0.99, "queued", 0),
        (1.0, "in_progress", 0),
        (5.5, "in_progress", 50),
        (9.99, "in_progress", 99),
        (10.0, "completed", 100),
        (1e6, "completed", 100),
    ],
)
def test_status_is_derived_from_elapsed_time(elapsed: float, status: str, progress: int) -> None:
    """Jobs queue for the first tenth of job_seconds, then progress linearly, then complete."""
    clock = FakeClock()
    store = make_store(clock)
    job = store.get(create(store))
    clock.advance(elapsed)
    state = store.progress(job)
    assert (state.status, state.progress) == (status, progress)


def test_completed_object_carries_completion_and_expiry_times() -> None:
    """A completed job reports completed_at at its finish time and expires an hour later."""
    clock = FakeClock()
    store = make_store(clock)
    job = store.get(create(store))
    clock.advance(60)
    video = store.to_object(job)
    assert video["created_at"] == int(START)
    assert video["completed_at"] == int(START + 10)
    assert video["expires_at"] == int(START + 10) + EXPIRY_SECONDS


def test_zero_job_seconds_completes_immediately() -> None:
    """With job_seconds=0 a job is completed as soon as it is created."""
    clock = FakeClock()
    store = make_store(clock, job_seconds=0)
    assert store.progress(store.get(create(store))).status == "completed"


def test_oldest_jobs_are_evicted_beyond_max_jobs() -> None:
    """The store keeps at most max_jobs jobs and forgets the oldest first."""
    store = make_store(FakeClock(), max_jobs=2)
    first, second, third = create(store), create(store), create(store)
    assert len(store) == 2
    with pytest.raises(JobNotFoundError):
        store.get(first)
    assert store.get(second).id == second
    assert store.get(third).id == third


def test_page_with_unknown_cursor_raises() -> None:
    """A cursor naming no live job is reported rather than silently yielding a page."""
    store = make_store(FakeClock())
    create(store)
    with pytest.raises(JobNotFoundError):
        store.page(after="video_missing", limit=10, order="desc")


def test_ids_are_prefixed_random_hex() -> None:
    """Video ids are 'video_' followed by 32 lowercase hex characters and never repeat."""
    store = make_store(FakeClock())
    ids = {create(store) for _ in range(50)}
    assert len(ids) == 50
    for video_id in ids:
        assert video_id.startswith("video_")
        assert len(video_id) == 38
        int(video_id[6:], 16)
        assert video_id[6:] == video_id[6:].lower()


def test_invalid_configuration_is_rejected() -> None:
    """Negative job durations and non-positive job caps are configuration errors."""
    with pytest.raises(ValueError, match="job_seconds"):
        make_store(FakeClock(), job_seconds=-1)
    with pytest.raises(ValueError, match="max_jobs"):
        make_store(FakeClock(), max_jobs=0)
