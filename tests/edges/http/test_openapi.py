"""`GET /openapi.json`: a valid OpenAPI 3.1 document of every route the gateway serves,
and the answers schemathesis rarely reaches by chance (a hold, a spent limit, refusals
of each kind) are answers it describes, status, headers and body."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.core.routes import RouteKind, classify
from gateway.edges.http.app import create_app
from gateway.edges.http.openapi import openapi_document
from gateway.edges.settings import Settings
from tests.conftest import Gateway, GatewayFactory
from tests.support.policies import SHIPPED
from tests.support.servers import AppServer

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
VIDEO = {"model": "sora-2", "prompt": "A paper boat on a rainy street", "seconds": "4"}
VIDEO_ROUTES = {
    "/v1/videos": {"post": RouteKind.CREATE_VIDEO, "get": RouteKind.LIST_VIDEOS},
    "/v1/videos/{video_id}": {"get": RouteKind.READ_VIDEO, "delete": RouteKind.DELETE_VIDEO},
    "/v1/videos/{video_id}/content": {"get": RouteKind.DOWNLOAD_VIDEO},
    "/v1/videos/{video_id}/remix": {"post": RouteKind.REMIX_VIDEO},
}


def test_the_document_is_served_without_a_token_and_is_valid_openapi(gateway: Gateway) -> None:
    """Anyone may read the document; it is OpenAPI 3.1, valid, and the one in the package."""
    response = httpx.get(f"{gateway.url}/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert document["openapi"].startswith("3.1.")
    validate(document)
    assert document == openapi_document()


def test_every_route_the_gateway_serves_is_documented(tmp_path: Path) -> None:
    """The document's paths are the gateway's own routes and the model API's video routes,
    each method classified as the proxy classifies it; none is missing, none invented."""
    app = create_app(Settings(data_dir=tmp_path, policies=SHIPPED))
    paths: dict[str, Any] = openapi_document()["paths"]
    assert set(paths) == set(app.own_paths) | set(VIDEO_ROUTES)
    for path, kinds in VIDEO_ROUTES.items():
        assert {m for m in paths[path] if m != "parameters"} == set(kinds)
        concrete = path.replace("{video_id}", "video_123")
        for method, kind in kinds.items():
            assert classify(method.upper(), concrete).kind is kind


@pytest.fixture
def described(gateway: Gateway) -> Callable[[str, str, httpx.Response], None]:
    schema = schemathesis.openapi.from_url(f"{gateway.url}/openapi.json")

    def check(path: str, method: str, response: httpx.Response) -> None:
        schema[path][method].Case().validate_response(response, checks=CHECKS)

    return check


def test_refusals_are_described(
    gateway: Gateway, described: Callable[[str, str, httpx.Response], None]
) -> None:
    """Token, phase, model, body and idempotency refusals answer as documented."""
    url = gateway.url
    client = gateway.client("artist")
    # No token, a bad token.
    described("/v1/videos", "GET", httpx.get(f"{url}/v1/videos"))
    bad = httpx.get(f"{url}/v1/videos", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    described("/v1/videos", "GET", bad)
    # A tier the phase does not admit.
    studio = gateway.client("studio", "studios")
    refused = studio.post("/v1/videos", json=VIDEO)
    assert refused.json()["error"]["code"] == "tier_not_in_phase"
    described("/v1/videos", "POST", refused)
    # Not JSON, nor a form.
    unsupported = client.post("/v1/videos", content=b"x", headers={"Content-Type": "text/plain"})
    assert unsupported.status_code == 415
    described("/v1/videos", "POST", unsupported)
    # Beyond the tier.
    too_long = client.post("/v1/videos", json={**VIDEO, "seconds": "20"})
    assert too_long.status_code == 400
    described("/v1/videos", "POST", too_long)
    # A key reused with another request.
    first = client.post("/v1/videos", json=VIDEO, headers={"Idempotency-Key": "k-1"})
    described("/v1/videos", "POST", first)
    reused = client.post(
        "/v1/videos", json={**VIDEO, "seconds": "8"}, headers={"Idempotency-Key": "k-1"}
    )
    assert reused.status_code == 409
    described("/v1/videos", "POST", reused)
    # Someone else's job, and a listing from it.
    theirs = first.json()["id"]
    other = gateway.client("other")
    for method, path in (("GET", "/v1/videos/{video_id}"), ("DELETE", "/v1/videos/{video_id}")):
        response = other.request(method, path.replace("{video_id}", theirs))
        assert response.status_code == 404
        described(path, method, response)
    listing = other.get("/v1/videos", params={"after": theirs})
    assert listing.status_code == 404
    described("/v1/videos", "GET", listing)
    # Content of a job not ready yet, answered by the model API itself.
    not_ready = client.get(f"/v1/videos/{theirs}/content")
    assert not_ready.status_code == 400
    described("/v1/videos/{video_id}/content", "GET", not_ready)


def test_a_held_request_and_a_denied_one_are_described(
    gateway: Gateway, described: Callable[[str, str, httpx.Response], None]
) -> None:
    """A hold answers 202 with a queued video, a `deny` rule 403 naming the rule."""
    gateway.set_phase("limited_preview")
    studio = gateway.client("studio", "studios")
    held = studio.post(
        "/v1/videos",
        json={**VIDEO, "prompt": "Photorealistic documentary of a harbour", "seconds": "12"},
    )
    assert held.status_code == 202
    described("/v1/videos", "POST", held)
    denied = studio.post("/v1/videos", json={**VIDEO, "prompt": "The prime minister dancing"})
    assert denied.status_code == 403
    assert denied.json()["error"]["rule"] == "no-real-public-figures"
    described("/v1/videos", "POST", denied)
    read = studio.get(f"/v1/videos/{held.json()['id']}")
    described("/v1/videos/{video_id}", "GET", read)


def test_a_spent_limit_and_an_oversized_body_are_described(
    mock_model: AppServer, start_gateway: GatewayFactory
) -> None:
    """429 carries Retry-After and the RateLimit fields; 413 is the error envelope."""
    gateway = start_gateway(mock_model.url, policies=SHIPPED, max_body=4096)
    schema = schemathesis.openapi.from_url(f"{gateway.url}/openapi.json")
    create = schema["/v1/videos"]["POST"]
    client = gateway.client("artist")
    answers = [client.post("/v1/videos", json=VIDEO) for _ in range(11)]
    assert answers[0].status_code == 200
    assert answers[-1].status_code == 429
    for answer in (answers[0], answers[-1]):
        create.Case().validate_response(answer, checks=CHECKS)
    oversized = client.post("/v1/videos", json={**VIDEO, "prompt": "x" * 5000})
    assert oversized.status_code == 413
    create.Case().validate_response(oversized, checks=CHECKS)
