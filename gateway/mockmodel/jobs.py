"""In-memory video jobs whose lifecycle is derived from the clock.

A job's status is a pure function of its creation time and "now", so there are no
background tasks to schedule or cancel, and tests drive the lifecycle by moving an
injected clock.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

FAIL_MARKER: Final = "mock:fail"
QUEUED_FRACTION: Final = 0.1
EXPIRY_SECONDS: Final = 3600

Status = Literal["queued", "in_progress", "completed", "failed"]
Order = Literal["asc", "desc"]


class JobNotFoundError(LookupError):
    def __init__(self, video_id: str) -> None:
        super().__init__(video_id)
        self.video_id = video_id


@dataclass(frozen=True, slots=True)
class InputReference:
    """What was given as `input_reference` (a file, a data URL's image, an https URL or a
    file id); kept for inspection, never rendered."""

    size: int | None = None
    sha256: str | None = None
    content_type: str | None = None
    url: str | None = None
    file_id: str | None = None


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    model: str
    prompt: str
    size: str
    seconds: str
    created: float
    remixed_from_video_id: str | None = None
    input_reference: InputReference | None = None

    @property
    def will_fail(self) -> bool:
        return FAIL_MARKER in self.prompt


@dataclass(frozen=True, slots=True)
class Progress:
    status: Status
    progress: int
    finished_at: float | None


@dataclass(frozen=True, slots=True)
class Page:
    jobs: list[Job]
    has_more: bool


def new_video_id() -> str:
    return "video_" + secrets.token_hex(16)


class JobStore:
    """Jobs in creation order, bounded so long benchmarks cannot exhaust memory.

    When more than `max_jobs` jobs exist the oldest is forgotten and answers 404
    from then on, like any deleted job.
    """

    def __init__(
        self,
        *,
        job_seconds: float,
        clock: Callable[[], float],
        max_jobs: int = 100_000,
    ) -> None:
        if job_seconds < 0:
            raise ValueError("job_seconds must not be negative")
        if max_jobs < 1:
            raise ValueError("max_jobs must be at least 1")
        self.job_seconds = job_seconds
        self.clock = clock
        self.max_jobs = max_jobs
        # OrderedDict rather than dict: evicting the oldest entry is O(1) via
        # popitem(last=False), and reversed() gives newest-first listing.
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        # Idempotency-Key -> the job first created with it, bounded like the jobs.
        self._keys: OrderedDict[str, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._jobs)

    def create(
        self,
        *,
        model: str,
        prompt: str,
        size: str,
        seconds: str,
        remixed_from_video_id: str | None = None,
        input_reference: InputReference | None = None,
        idempotency_key: str | None = None,
    ) -> Job:
        job = Job(
            id=new_video_id(),
            model=model,
            prompt=prompt,
            size=size,
            seconds=seconds,
            created=self.clock(),
            remixed_from_video_id=remixed_from_video_id,
            input_reference=input_reference,
        )
        self._jobs[job.id] = job
        if len(self._jobs) > self.max_jobs:
            self._jobs.popitem(last=False)
        if idempotency_key is not None:
            self._keys[idempotency_key] = job.id
            if len(self._keys) > self.max_jobs:
                self._keys.popitem(last=False)
        return job

    def created_with(self, idempotency_key: str | None) -> Job | None:
        """The live job a create with this Idempotency-Key made earlier, if any."""
        if idempotency_key is None:
            return None
        job_id = self._keys.get(idempotency_key)
        return None if job_id is None else self._jobs.get(job_id)

    def get(self, video_id: str) -> Job:
        job = self._jobs.get(video_id)
        if job is None:
            raise JobNotFoundError(video_id)
        return job

    def delete(self, video_id: str) -> Job:
        job = self._jobs.pop(video_id, None)
        if job is None:
            raise JobNotFoundError(video_id)
        return job

    def progress(self, job: Job) -> Progress:
        elapsed = self.clock() - job.created
        total = self.job_seconds
        finished_at = job.created + total
        if elapsed >= total:
            return Progress("failed" if job.will_fail else "completed", 100, finished_at)
        queued_for = total * QUEUED_FRACTION
        if elapsed < queued_for:
            return Progress("queued", 0, None)
        fraction = (elapsed - queued_for) / (total - queued_for)
        # Capped at 99 so that 100 always means the job has finished.
        return Progress("in_progress", min(99, max(0, int(fraction * 100))), None)

    def page(self, *, after: str | None, limit: int, order: Order) -> Page:
        """Return up to `limit` jobs following the `after` cursor in the given order.

        Raises JobNotFoundError when the cursor names no live job.
        """
        if after is not None and after not in self._jobs:
            raise JobNotFoundError(after)
        ids = reversed(self._jobs) if order == "desc" else iter(self._jobs)
        if after is not None:
            for video_id in ids:
                if video_id == after:
                    break
        selected: list[Job] = []
        for video_id in ids:
            if len(selected) == limit:
                return Page(selected, has_more=True)
            selected.append(self._jobs[video_id])
        return Page(selected, has_more=False)

    def to_object(self, job: Job) -> dict[str, Any]:
        """Render the public video object as of the store's clock."""
        state = self.progress(job)
        completed_at = None if state.finished_at is None else int(state.finished_at)
        failed = state.status == "failed"
        return {
            "id": job.id,
            "object": "video",
            "model": job.model,
            "status": state.status,
            "progress": state.progress,
            "created_at": int(job.created),
            "completed_at": completed_at,
            # Failed jobs have no assets, so nothing can expire.
            "expires_at": (
                None if completed_at is None or failed else completed_at + EXPIRY_SECONDS
            ),
            "size": job.size,
            "seconds": job.seconds,
            "quality": "standard",
            "prompt": job.prompt,
            "remixed_from_video_id": job.remixed_from_video_id,
            "error": (
                {
                    "code": "video_generation_failed",
                    "message": f"Video generation failed (prompt contains {FAIL_MARKER!r})",
                }
                if failed
                else None
            ),
        }
