"""The review queue through the running gateway in front of the mock model API: held
requests approved, rejected or expired, the client's id throughout, and quotas."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from gateway.mockmodel.app import create_mock_app
from tests.conftest import Gateway, GatewayFactory
from tests.support.reviews import (
    HELD,
    PLAIN,
    REVIEW_POLICIES,
    Reviewer,
    creations,
    upstream_requests,
    video,
    wait_for,
    wait_status,
)
from tests.support.servers import AppServer

UPSTREAM_KEY = "uk-review-e2e-0123456789"


@pytest.fixture
def reviewed(mock_model: AppServer, start_gateway: GatewayFactory) -> Gateway:
    return start_gateway(mock_model.url, policies=REVIEW_POLICIES, upstream_key=UPSTREAM_KEY)


@pytest.fixture
def reviewer(reviewed: Gateway) -> Reviewer:
    return Reviewer(reviewed.settings.data_dir)


def _hold(client: httpx.Client, **body: object) -> str:
    response = client.post("/v1/videos", json={**HELD, **body})
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    video_id: str = response.json()["id"]
    return video_id


def test_approved_request_reaches_the_model_once_and_reads_by_the_clients_id(
    reviewed: Gateway, reviewer: Reviewer, mock_model: AppServer
) -> None:
    """Held, approved, submitted by the gateway itself: the client polls its own id to
    completed and downloads the real video; the model saw one create, with the gateway's
    credential and the review id as its Idempotency-Key."""
    client = reviewed.client("ada", "reviewed")
    httpx.delete(f"{mock_model.url}/_mock/requests")
    video_id = _hold(client)
    assert video(client, video_id)["status"] == "queued"
    assert creations(mock_model.url) == []

    reviewer.approve(video_id)
    done = wait_status(client, video_id, "completed")
    assert done["id"] == video_id
    assert done["prompt"] == HELD["prompt"]
    sent = creations(mock_model.url)
    assert len(sent) == 1
    assert sent[0]["headers"]["idempotency-key"] == video_id
    assert sent[0]["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert sent[0]["headers"]["x-phasegate-principal"] == "ada"

    upstream_id = reviewer.show(video_id)["upstream_job_id"]
    assert upstream_id.startswith("video_")
    assert upstream_id != video_id
    download = client.get(f"/v1/videos/{video_id}/content")
    assert download.status_code == 200
    assert download.headers["content-type"] == "video/mp4"
    direct = httpx.get(f"{mock_model.url}/v1/videos/{upstream_id}/content")
    assert download.content == direct.content
    assert len(download.content) > 1000
    listed = client.get("/v1/videos").json()["data"]
    assert [(v["id"], v["status"]) for v in listed] == [(video_id, "completed")]
    # The model's own id is nobody's job at the gateway.
    assert client.get(f"/v1/videos/{upstream_id}").status_code == 404


def test_a_submitted_review_can_be_remixed_and_deleted_by_the_clients_id(
    reviewed: Gateway, reviewer: Reviewer, mock_model: AppServer
) -> None:
    """A remix names its source by the client's id, and a delete removes the model's job."""
    client = reviewed.client("ada", "reviewed")
    video_id = _hold(client)
    reviewer.approve(video_id)
    wait_status(client, video_id, "completed")
    upstream_id = reviewer.show(video_id)["upstream_job_id"]
    remix = client.post(f"/v1/videos/{video_id}/remix", json={"prompt": "at night"})
    assert remix.status_code == 200, remix.text
    assert remix.json()["remixed_from_video_id"] == video_id
    deleted = client.delete(f"/v1/videos/{video_id}")
    assert deleted.status_code == 200
    assert deleted.json() == {"id": video_id, "object": "video.deleted", "deleted": True}
    assert httpx.get(f"{mock_model.url}/v1/videos/{upstream_id}").status_code == 404
    assert client.get(f"/v1/videos/{video_id}").status_code == 404


def test_rejected_request_reads_failed_with_the_public_message(
    reviewed: Gateway, reviewer: Reviewer, mock_model: AppServer
) -> None:
    """Rejected: failed with policy_violation and the reviewer's public message, no content,
    never sent to the model; the reason stays in the record."""
    client = reviewed.client("ada", "reviewed")
    httpx.delete(f"{mock_model.url}/_mock/requests")
    video_id = _hold(client)
    result = reviewer(
        "reject",
        video_id,
        "--reviewer",
        "lee",
        "--reason",
        "depicts a real person",
        "--public-message",
        "Please do not depict real people.",
    )
    assert result.returncode == 0, result.stderr
    failed = video(client, video_id)
    assert failed["status"] == "failed"
    assert failed["error"] == {
        "code": "policy_violation",
        "message": "Please do not depict real people.",
    }
    content = client.get(f"/v1/videos/{video_id}/content")
    assert content.status_code == 400
    assert content.json()["error"]["code"] == "video_generation_failed"
    assert "real person" not in content.text + str(failed)
    assert upstream_requests(mock_model.url) == []
    assert client.delete(f"/v1/videos/{video_id}").status_code == 200
    assert client.get(f"/v1/videos/{video_id}").status_code == 404


def test_rejection_without_a_public_message_reads_a_neutral_one(
    reviewed: Gateway, reviewer: Reviewer
) -> None:
    """The reason is never shown to the client; without a public message it reads a default."""
    client = reviewed.client("ada", "reviewed")
    video_id = _hold(client)
    result = reviewer("reject", video_id, "--reviewer", "lee", "--reason", "internal note")
    assert result.returncode == 0, result.stderr
    error = video(client, video_id)["error"]
    assert error["code"] == "policy_violation"
    assert error["message"]
    assert "internal note" not in error["message"]


def test_an_unreviewed_request_expires(
    mock_model: AppServer, start_gateway: GatewayFactory
) -> None:
    """Past --review-ttl a pending review reads failed with review_expired, and a late
    approval is refused."""
    gateway = start_gateway(mock_model.url, policies=REVIEW_POLICIES, review_ttl=0.5)
    client = gateway.client("ada", "reviewed")
    video_id = _hold(client)
    expired = wait_status(client, video_id, "failed")
    assert expired["error"]["code"] == "review_expired"
    late = Reviewer(gateway.settings.data_dir)("approve", video_id, "--reviewer", "kim")
    assert late.returncode == 1
    assert "expired" in late.stderr
    assert creations(mock_model.url) == []


def test_a_held_request_cannot_be_deleted_or_remixed_while_under_review(
    reviewed: Gateway,
) -> None:
    """Nothing exists at the model yet: content is not ready, delete and remix are refused."""
    client = reviewed.client("ada", "reviewed")
    video_id = _hold(client)
    for response in (
        client.get(f"/v1/videos/{video_id}/content"),
        client.delete(f"/v1/videos/{video_id}"),
        client.post(f"/v1/videos/{video_id}/remix", json={"prompt": "again"}),
    ):
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "video_not_ready"
    assert video(client, video_id)["status"] == "queued"


def _refused_by(client: httpx.Client, seconds: str) -> str | None:
    """The limit that refuses a plain request of that length now (None if admitted)."""
    response = client.post("/v1/videos", json={**PLAIN, "seconds": seconds})
    if response.status_code == 200:
        return None
    assert response.status_code == 429, response.text
    message: str = response.json()["error"]["message"]
    return message.split("'")[1]


def test_a_hold_reserves_cost_and_slot_and_a_rejection_gives_them_back(
    reviewed: Gateway, reviewer: Reviewer
) -> None:
    """A held 4-second request takes the one slot and 4 of 8 video-seconds: the next request
    is refused for the slot. Once rejected both come back: an 8-second request, which
    needs the whole budget and the slot, is admitted."""
    client = reviewed.client("bo", "capped")
    video_id = _hold(client, seconds="4")
    assert _refused_by(client, "4") == "jobs_in_flight"
    result = reviewer("reject", video_id, "--reviewer", "lee", "--reason", "no")
    assert result.returncode == 0, result.stderr
    wait_for(
        lambda: _refused_by(client, "8") is None,
        what="the rejected request's reservation to come back",
    )


def test_an_approval_keeps_the_reservation(start_gateway: GatewayFactory) -> None:
    """Approved and submitted: the slot is the job's and its 4 video-seconds stay spent.
    Deleting the job frees the slot, never the cost."""
    with AppServer(create_mock_app(job_seconds=30)) as slow_model:
        gateway = start_gateway(slow_model.url, policies=REVIEW_POLICIES)
        reviewer = Reviewer(gateway.settings.data_dir)
        client = gateway.client("bo", "capped")
        video_id = _hold(client, seconds="4")
        reviewer.approve(video_id)
        wait_for(lambda: reviewer.show(video_id)["state"] == "submitted", what="the submission")
        assert _refused_by(client, "4") == "jobs_in_flight"
        assert client.delete(f"/v1/videos/{video_id}").status_code == 200
        assert _refused_by(client, "8") == "video_seconds"


def test_a_request_the_model_refuses_reads_failed_and_gives_back(
    reviewed: Gateway, reviewer: Reviewer
) -> None:
    """Approved, but the model answers 400: the job reads failed with the model's error, and
    its cost and slot come back."""
    client = reviewed.client("bo", "capped")
    video_id = _hold(client, seconds="5")  # within the tier, but not a length the model makes
    reviewer.approve(video_id)
    failed = wait_status(client, video_id, "failed")
    assert failed["error"]["code"] not in (None, "policy_violation", "review_expired")
    assert "seconds" in failed["error"]["message"]
    wait_for(
        lambda: client.post("/v1/videos", json={**PLAIN, "seconds": "8"}).status_code == 200,
        what="the refused request's reservation to come back",
    )


def test_a_held_reference_image_reaches_the_model_unchanged(
    reviewed: Gateway,
    reviewer: Reviewer,
    mock_model: AppServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A multipart request held for its reference image: the reviewer sees its hash and can
    extract it; once approved the model receives the very same body."""
    client = reviewed.client("ada", "reviewed")
    image = bytes(range(256)) * 64
    request = client.build_request(
        "POST",
        "/v1/videos",
        data={"model": "sora-2", "prompt": "a lighthouse", "seconds": "4"},
        files={"input_reference": ("ref.png", image, "image/png")},
    )
    body = request.read()
    response = client.send(request)
    assert response.status_code == 202, response.text
    video_id = response.json()["id"]
    shown = reviewer.show(video_id)
    assert shown["input_reference"]["sha256"] == hashlib.sha256(image).hexdigest()
    assert shown["input_reference"]["size"] == len(image)
    assert shown["rules"] == ["reference-review"]
    target = tmp_path_factory.mktemp("extract") / "reference.png"
    extracted = reviewer("show", video_id, "--extract-reference", str(target))
    assert extracted.returncode == 0, extracted.stderr
    assert target.read_bytes() == image

    httpx.delete(f"{mock_model.url}/_mock/requests")
    reviewer.approve(video_id)
    wait_status(client, video_id, "completed", "in_progress", "queued")
    wait_for(lambda: creations(mock_model.url), what="the submission")
    sent = creations(mock_model.url)
    assert len(sent) == 1
    assert sent[0]["body_sha256"] == hashlib.sha256(body).hexdigest()
    wait_status(client, video_id, "completed")
