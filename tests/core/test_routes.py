"""Route classification: the one place that says what a request is."""

from __future__ import annotations

import pytest

from gateway.core.errors import BadRequest
from gateway.core.routes import RouteKind, check_query, classify


@pytest.mark.parametrize(
    ("method", "path", "kind", "video_id"),
    [
        ("POST", "/v1/videos", RouteKind.CREATE_VIDEO, None),
        ("GET", "/v1/videos", RouteKind.LIST_VIDEOS, None),
        ("POST", "/v1/videos/video_1/remix", RouteKind.REMIX_VIDEO, "video_1"),
        ("GET", "/v1/videos/video_1", RouteKind.READ_VIDEO, "video_1"),
        ("GET", "/v1/videos/video_1/content", RouteKind.DOWNLOAD_VIDEO, "video_1"),
        ("DELETE", "/v1/videos/video_1", RouteKind.DELETE_VIDEO, "video_1"),
        ("PUT", "/v1/videos/video_1", RouteKind.PASSTHROUGH, None),
        ("HEAD", "/v1/videos/video_1", RouteKind.PASSTHROUGH, None),
        ("get", "/v1/videos/video_1", RouteKind.PASSTHROUGH, None),
        ("GET", "/v1/videos/a/b", RouteKind.PASSTHROUGH, None),
        ("GET", "/v1/videos/", RouteKind.PASSTHROUGH, None),
        ("GET", "/v1/models", RouteKind.PASSTHROUGH, None),
    ],
)
def test_classification(method: str, path: str, kind: RouteKind, video_id: str | None) -> None:
    """Each job route is recognised with its video id; anything else is for the policy."""
    route = classify(method, path)
    assert route.kind is kind
    assert route.video_id == video_id
    assert route.path == path


@pytest.mark.parametrize(
    ("segment", "names_a_job"),
    [
        ("video_1", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("vid.eo", False),
        ("¸", False),
        ("a b", False),
    ],
)
def test_a_job_segment_outside_the_id_alphabet_names_no_job(
    segment: str, names_a_job: bool
) -> None:
    route = classify("GET", f"/v1/videos/{segment}")
    assert route.kind is RouteKind.READ_VIDEO
    assert route.names_a_job is names_a_job


def test_generation_routes() -> None:
    """Only creation and remix are generation requests."""
    assert {k for k in RouteKind if k.is_generation} == {
        RouteKind.CREATE_VIDEO,
        RouteKind.REMIX_VIDEO,
    }


def test_documented_routes_take_only_their_own_query_parameters() -> None:
    check_query(RouteKind.LIST_VIDEOS, ["after", "limit", "order"])
    check_query(RouteKind.DOWNLOAD_VIDEO, ["variant"])
    check_query(RouteKind.PASSTHROUGH, ["anything"])
    with pytest.raises(BadRequest) as caught:
        check_query(RouteKind.READ_VIDEO, ["variant"])
    assert caught.value.param == "variant"
    with pytest.raises(BadRequest):
        check_query(RouteKind.LIST_VIDEOS, ["after", "cursor"])
