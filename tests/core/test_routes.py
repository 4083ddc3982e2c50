"""Route classification: the one place that says what a request is."""

from __future__ import annotations

import pytest

from gateway.core.routes import RouteKind, classify


@pytest.mark.parametrize(
    ("method", "path", "kind", "video_id"),
    [
        ("POST", "/v1/videos", RouteKind.CREATE_VIDEO, None),
        ("GET", "/v1/videos", RouteKind.LIST_VIDEOS, None),
        ("POST", "/v1/videos/video_1/remix", RouteKind.REMIX_VIDEO, "video_1"),
        ("GET", "/v1/videos/video_1", RouteKind.READ_VIDEO, "video_1"),
        ("GET", "/v1/videos/video_1/content", RouteKind.DOWNLOAD_VIDEO, "video_1"),
        ("DELETE", "/v1/videos/video_1", RouteKind.DELETE_VIDEO, "video_1"),
        ("PUT", "/v1/videos/video_1", RouteKind.OTHER, None),
        ("GET", "/v1/videos/a/b", RouteKind.OTHER, None),
        ("GET", "/v1/videos/", RouteKind.OTHER, None),
        ("GET", "/v1/models", RouteKind.OTHER, None),
    ],
)
def test_classification(method: str, path: str, kind: RouteKind, video_id: str | None) -> None:
    """Each job route is recognised with its video id; anything else is OTHER."""
    route = classify(method, path)
    assert route.kind is kind
    assert route.video_id == video_id


def test_generation_routes() -> None:
    """Only creation and remix are generation requests."""
    assert {k for k in RouteKind if k.is_generation} == {
        RouteKind.CREATE_VIDEO,
        RouteKind.REMIX_VIDEO,
    }
