"""Exactly one job per approved review, even when the gateway submitting it is killed in
the middle: real `phasegate serve` and `mock-model` processes, SIGKILL, restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import access_token, grant_credential, process, wait_ready
from tests.support.reviews import HELD, REVIEW_POLICIES, Reviewer, creations, wait_for
from tests.support.servers import free_port


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _serve(port: int, model: str, settings: list[str]) -> list[str]:
    return [
        "serve",
        "--port",
        str(port),
        "--upstream",
        f"http://127.0.0.1:{port_of(model)}",
        # A claim lasts connect + read timeout + 1 s: short, so the restart takes over soon.
        "--upstream-connect-timeout",
        "1s",
        "--upstream-timeout",
        "5s",
        *settings,
    ]


def _jobs_at_the_model(model: str, prompt: str) -> list[dict[str, Any]]:
    listed = httpx.get(f"{model}/v1/videos", params={"limit": 100}).json()["data"]
    return [job for job in listed if job["prompt"] == prompt]


def test_a_submission_cut_off_by_sigkill_makes_one_job_after_restart(tmp_path: Path) -> None:
    """The model holds back its answer to the create; the gateway dies (SIGKILL) meanwhile.
    A restarted gateway takes the submission over once its claim ran out and sends it again
    with the same Idempotency-Key: the model has one job, and the client's id reads it."""
    data = tmp_path / "data"
    settings = ["--data-dir", str(data), "--policies", str(REVIEW_POLICIES)]
    reviewer = Reviewer(data)
    model = f"http://127.0.0.1:{free_port()}"
    gateway_port = free_port()
    gateway = f"http://127.0.0.1:{gateway_port}"
    with process(
        "mock-model", "--port", str(port_of(model)), "--job-seconds", "0.5", "--create-delay", "8"
    ):
        wait_ready(f"{model}/v1/videos")
        with process(*_serve(gateway_port, model, settings)) as first:
            assert wait_ready(f"{gateway}/readyz").status_code == 200
            token = access_token(gateway, grant_credential(settings, "ada", "reviewed"))
            client = httpx.Client(base_url=gateway, headers={"Authorization": f"Bearer {token}"})
            held = client.post("/v1/videos", json=HELD)
            assert held.status_code == 202
            video_id = held.json()["id"]
            reviewer.approve(video_id)
            wait_for(lambda: creations(model), what="the submission to reach the model")
            first.kill()
            first.wait()
        assert reviewer.show(video_id)["state"] == "submitting"
        assert len(_jobs_at_the_model(model, HELD["prompt"])) == 1

        with process(*_serve(gateway_port, model, settings)):
            assert wait_ready(f"{gateway}/readyz").status_code == 200

            def completed() -> bool:
                response = client.get(f"/v1/videos/{video_id}")
                assert response.status_code == 200, response.text
                return bool(response.json()["status"] == "completed")

            wait_for(completed, timeout=30, what="the resubmitted job to complete")
            download = client.get(f"/v1/videos/{video_id}/content")
            assert download.status_code == 200
            assert download.headers["content-type"] == "video/mp4"
        client.close()

        sent = creations(model)
        assert len(sent) == 2
        assert {entry["headers"]["idempotency-key"] for entry in sent} == {video_id}
        [job] = _jobs_at_the_model(model, HELD["prompt"])
        assert reviewer.show(video_id)["upstream_job_id"] == job["id"]
        assert len(reviewer.events("review_outcome")) == 1
