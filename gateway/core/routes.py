"""What a proxied request is, from its method and path alone.

Every later step (authentication, ownership, policy, limits, audit) keys off this
classification, so it is decided once, here, and nowhere else.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class RouteKind(enum.Enum):
    CREATE_VIDEO = "create_video"
    REMIX_VIDEO = "remix_video"
    READ_VIDEO = "read_video"
    DOWNLOAD_VIDEO = "download_video"
    DELETE_VIDEO = "delete_video"
    LIST_VIDEOS = "list_videos"
    OTHER = "other"

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


@dataclass(frozen=True, slots=True)
class Route:
    kind: RouteKind
    template: str
    video_id: str | None = None


_VIDEO_ID = r"(?P<video_id>[A-Za-z0-9_-]{1,128})"
_TABLE: tuple[tuple[str, re.Pattern[str], RouteKind, str], ...] = (
    ("POST", re.compile(r"/v1/videos"), RouteKind.CREATE_VIDEO, "/v1/videos"),
    ("GET", re.compile(r"/v1/videos"), RouteKind.LIST_VIDEOS, "/v1/videos"),
    (
        "POST",
        re.compile(rf"/v1/videos/{_VIDEO_ID}/remix"),
        RouteKind.REMIX_VIDEO,
        "/v1/videos/{id}/remix",
    ),
    (
        "GET",
        re.compile(rf"/v1/videos/{_VIDEO_ID}/content"),
        RouteKind.DOWNLOAD_VIDEO,
        "/v1/videos/{id}/content",
    ),
    ("GET", re.compile(rf"/v1/videos/{_VIDEO_ID}"), RouteKind.READ_VIDEO, "/v1/videos/{id}"),
    ("DELETE", re.compile(rf"/v1/videos/{_VIDEO_ID}"), RouteKind.DELETE_VIDEO, "/v1/videos/{id}"),
)


def classify(method: str, path: str) -> Route:
    for table_method, pattern, kind, template in _TABLE:
        if method != table_method:
            continue
        match = pattern.fullmatch(path)
        if match is not None:
            return Route(kind, template, match.groupdict().get("video_id"))
    return Route(RouteKind.OTHER, path)
