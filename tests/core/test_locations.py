"""Locations naming the model API's own address are rewritten to the gateway's."""

from __future__ import annotations

import pytest

from gateway.core.locations import Origin, public_location

MODEL = Origin.of("http://10.0.0.7:8081")
PUBLIC = "https://videos.example.com"


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("http://10.0.0.7:8081/v1/videos/v1", "https://videos.example.com/v1/videos/v1"),
        (
            "HTTP://10.0.0.7:8081/v1/videos/v1?x=1#f",
            "https://videos.example.com/v1/videos/v1?x=1#f",
        ),
        ("//10.0.0.7:8081/v1/videos", "https://videos.example.com/v1/videos"),
        ("http://10.0.0.7:8081", "https://videos.example.com/"),
        ("/v1/videos/v1", "/v1/videos/v1"),
        ("v1", "v1"),
        ("https://cdn.example.net/v1.mp4", "https://cdn.example.net/v1.mp4"),
        ("http://10.0.0.7:9999/v1", "http://10.0.0.7:9999/v1"),
        ("http://[::1/v1", None),
        ("http://10.0.0.7:port/v1", None),
    ],
)
def test_locations(given: str, shown: str | None) -> None:
    assert public_location(given, MODEL, PUBLIC) == shown


def test_a_model_api_under_a_path_prefix_loses_the_prefix_or_the_header() -> None:
    model = Origin.of("http://model.internal/api/")
    assert public_location("http://model.internal/api/v1/videos", model, PUBLIC + "/") == (
        PUBLIC + "/v1/videos"
    )
    assert public_location("http://model.internal/admin", model, PUBLIC) is None


def test_default_ports_are_the_same_origin() -> None:
    model = Origin.of("http://model.internal")
    assert public_location("http://model.internal:80/v1", model, PUBLIC) == PUBLIC + "/v1"
