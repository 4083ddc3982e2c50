"""What a proxied request is, from its method and canonical path alone.

Every later step (authentication, ownership, policy, limits, audit) keys off this
classification, so it is decided once, here, and nowhere else. It takes the path as
`gateway.core.paths.canonical_path` decoded it: the spelling the gateway forwards.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.core.paths import InvalidQuery


class RouteKind(enum.Enum):
    CREATE_VIDEO = "create_video"
    REMIX_VIDEO = "remix_video"
    READ_VIDEO = "read_video"
    DOWNLOAD_VIDEO = "download_video"
    DELETE_VIDEO = "delete_video"
    LIST_VIDEOS = "list_videos"
    # Not a documented route: forwarded only where the policy's `routes:` lists it.
    PASSTHROUGH = "passthrough"
    # Neither documented nor listed: 404 `unknown_route`, never forwarded.
    UNKNOWN = "unknown"
    # A path without one meaning: 400 `invalid_path`, never classified further.
    INVALID = "invalid"

    @property
    def is_generation(self) -> bool:
        return self in (RouteKind.CREATE_VIDEO, RouteKind.REMIX_VIDEO)

    @property
    def answer_is_read(self) -> bool:
        """Answers that steps read (job ids, job states): small JSON documents, buffered."""
        return self.is_generation or self is RouteKind.READ_VIDEO

    @property
    def touches_job(self) -> bool:
        return self.job_scoped or self is RouteKind.REMIX_VIDEO

    @property
    def job_scoped(self) -> bool:
        return self in (RouteKind.READ_VIDEO, RouteKind.DOWNLOAD_VIDEO, RouteKind.DELETE_VIDEO)

    @property
    def documented(self) -> bool:
        return self not in (RouteKind.PASSTHROUGH, RouteKind.UNKNOWN, RouteKind.INVALID)


# A job id as the model API issues them. Anything else in a job's place is answered by
# the gateway as a job that does not exist, and never reaches the model API.
JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


@dataclass(frozen=True, slots=True)
class Route:
    kind: RouteKind
    template: str  # the documented or listed route ("/v1/videos/{id}"), or the path
    video_id: str | None = None
    path: str = ""  # the canonical path, as forwarded

    @property
    def names_a_job(self) -> bool:
        """Whether the job segment can be a job id at all (else: 404, asked of nobody)."""
        return self.video_id is not None and JOB_ID.fullmatch(self.video_id) is not None


_SEGMENT = r"(?P<video_id>[^/]+)"
_TABLE: tuple[tuple[str, re.Pattern[str], RouteKind, str], ...] = (
    ("POST", re.compile(r"/v1/videos"), RouteKind.CREATE_VIDEO, "/v1/videos"),
    ("GET", re.compile(r"/v1/videos"), RouteKind.LIST_VIDEOS, "/v1/videos"),
    (
        "POST",
        re.compile(rf"/v1/videos/{_SEGMENT}/remix"),
        RouteKind.REMIX_VIDEO,
        "/v1/videos/{id}/remix",
    ),
    (
        "GET",
        re.compile(rf"/v1/videos/{_SEGMENT}/content"),
        RouteKind.DOWNLOAD_VIDEO,
        "/v1/videos/{id}/content",
    ),
    ("GET", re.compile(rf"/v1/videos/{_SEGMENT}"), RouteKind.READ_VIDEO, "/v1/videos/{id}"),
    ("DELETE", re.compile(rf"/v1/videos/{_SEGMENT}"), RouteKind.DELETE_VIDEO, "/v1/videos/{id}"),
)
# The query parameters each documented route takes; any other is refused, not passed on.
_QUERY: dict[RouteKind, frozenset[str]] = {
    RouteKind.LIST_VIDEOS: frozenset({"after", "limit", "order"}),
    RouteKind.DOWNLOAD_VIDEO: frozenset({"variant"}),
}
DOCUMENTED = tuple((method, template) for method, _, _, template in _TABLE)


def classify(method: str, path: str) -> Route:
    """The documented route of a canonical path, or PASSTHROUGH for the policy to judge."""
    for table_method, pattern, kind, template in _TABLE:
        if method != table_method:
            continue
        match = pattern.fullmatch(path)
        if match is not None:
            return Route(kind, template, match.groupdict().get("video_id"), path)
    return Route(RouteKind.PASSTHROUGH, path, None, path)


def documented_methods(path: str) -> frozenset[str]:
    """The methods the documented routes take on this path (empty: no documented path)."""
    return frozenset(
        method for method, pattern, _, _ in _TABLE if pattern.fullmatch(path) is not None
    )


def check_query(kind: RouteKind, names: Iterable[str]) -> None:
    """400 naming the first query parameter a documented route does not take."""
    if not kind.documented:
        return
    allowed = _QUERY.get(kind, frozenset())
    for name in names:
        if name not in allowed:
            taken = ", ".join(sorted(allowed)) or "none"
            raise InvalidQuery(
                f"The query parameter {name!r} is not taken here (taken: {taken}).", param=name
            )
