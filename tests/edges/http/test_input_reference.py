"""`input_reference` in every form OpenAI's video API takes, through the running gateway:
a multipart file, or in JSON a data URL, an https URL or a file id. Each is judged as a
reference, recorded in the audit log by what the gateway knows of it, and forwarded to the
model API exactly as received; an https URL is never fetched by the gateway."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

import httpx
import pytest

from gateway.core.policy import rollout_bucket
from tests.conftest import Gateway, GatewayFactory
from tests.support.servers import AppServer, RawPeer

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
VIDEO = {"model": "sora-2", "prompt": "a lighthouse in fog", "seconds": "4"}


def _audit_records(gateway: Gateway, request_id: str, event: str) -> dict[str, Any]:
    deadline = time.monotonic() + 3
    while True:
        for segment in sorted((gateway.settings.data_dir / "audit").glob("audit-*.jsonl")):
            for line in segment.read_text().splitlines():
                record = json.loads(line)
                if record.get("request_id") == request_id and record["event"] == event:
                    found: dict[str, Any] = record
                    return found
        assert time.monotonic() < deadline, f"no {event} record for {request_id}"
        time.sleep(0.02)


def _forwarded(mock_model: AppServer) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = httpx.get(f"{mock_model.url}/_mock/requests").json()["data"]
    return seen


DATA_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()
FORMS: dict[str, tuple[dict[str, str], dict[str, Any]]] = {
    "data_url": (
        {"image_url": DATA_URL},
        {
            "source": "data_url",
            "sha256": hashlib.sha256(PNG).hexdigest(),
            "size": len(PNG),
            "content_type": "image/png",
            "url": None,
            "file_id": None,
        },
    ),
    "url": (
        {"image_url": "https://images.example/lighthouse.png?v=1"},
        {
            "source": "url",
            "sha256": None,
            "size": None,
            "content_type": None,
            "url": "https://images.example/lighthouse.png?v=1",
            "file_id": None,
        },
    ),
    "file_id": (
        {"file_id": "file-abc123"},
        {
            "source": "file_id",
            "sha256": None,
            "size": None,
            "content_type": None,
            "url": None,
            "file_id": "file-abc123",
        },
    ),
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_each_json_form_is_recorded_and_forwarded_as_received(
    gateway: Gateway, mock_model: AppServer, form: str
) -> None:
    reference, recorded = FORMS[form]
    content = json.dumps({**VIDEO, "input_reference": reference}).encode()
    response = gateway.client("artist").post(
        "/v1/videos", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert _forwarded(mock_model)[-1]["body_sha256"] == hashlib.sha256(content).hexdigest()
    record = _audit_records(gateway, response.headers["x-request-id"], "generation_request")
    assert record["input_reference"] == recorded


def test_a_multipart_file_is_recorded_with_its_declared_type_and_name(gateway: Gateway) -> None:
    """The file name is recorded too: the policy judges it, so review must see it."""
    response = gateway.client("artist").post(
        "/v1/videos", data=VIDEO, files={"input_reference": ("ref.png", PNG, "image/png")}
    )
    assert response.status_code == 200, response.text
    record = _audit_records(gateway, response.headers["x-request-id"], "generation_request")
    assert record["input_reference"] == {
        **FORMS["data_url"][1],
        "source": "file",
        "filename": "ref.png",
    }


@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_form_counts_as_a_reference_for_the_policy(gateway: Gateway, form: str) -> None:
    """The shipped rule holding the public's reference images holds each JSON form too."""
    gateway.set_phase("general_availability")
    admitted = next(
        f"member-{i}" for i in range(100) if rollout_bucket(f"member-{i}", "public") < 10
    )
    public = gateway.client(admitted, "public")
    plain = public.post("/v1/videos", json=VIDEO)
    assert plain.status_code == 200, plain.text
    held = public.post("/v1/videos", json={**VIDEO, "input_reference": FORMS[form][0]})
    assert held.status_code == 202, held.text
    assert held.json()["status"] == "queued"


def test_the_gateway_never_fetches_a_reference_url(gateway: Gateway, mock_model: AppServer) -> None:
    """A URL pointing at a listening loopback server is forwarded, never requested."""
    contacted: list[bytes] = []

    async def listen(reader: Any, writer: Any) -> None:
        contacted.append(await reader.read(1024))

    with RawPeer(listen) as peer:
        url = peer.url.replace("http://", "https://") + "/image.png"
        response = gateway.client("artist").post(
            "/v1/videos", json={**VIDEO, "input_reference": {"image_url": url}}
        )
        assert response.status_code == 200, response.text
        time.sleep(0.2)
    assert contacted == []
    assert _forwarded(mock_model)[-1]["path"] == "/v1/videos"


@pytest.mark.parametrize(
    "reference",
    [
        {"image_url": "http://images.example/a.png"},
        {"image_url": "file:///etc/passwd"},
        {"image_url": "https://images.example/a.png", "file_id": "file-1"},
        {"image_url": "data:image/png;base64,bm90IGFuIGltYWdl"},
    ],
)
def test_a_refused_reference_is_400_and_never_forwarded(
    gateway: Gateway, mock_model: AppServer, reference: dict[str, str]
) -> None:
    httpx.delete(f"{mock_model.url}/_mock/requests")
    response = gateway.client("artist").post(
        "/v1/videos", json={**VIDEO, "input_reference": reference}
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"].startswith("input_reference")
    assert _forwarded(mock_model) == []


def test_a_data_url_over_the_reference_limit_is_413(
    mock_model: AppServer, start_gateway: GatewayFactory
) -> None:
    gateway = start_gateway(mock_model.url, max_reference=len(PNG) - 1)
    response = gateway.client("artist").post(
        "/v1/videos", json={**VIDEO, "input_reference": {"image_url": DATA_URL}}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"
