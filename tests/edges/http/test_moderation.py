"""Moderation rules through the running gateway, with a real classifier on a loopback
port: the mock moderation service (in this process, or as `phasegate mock-moderation`),
a slow one and a failing one."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.edges.http.steps.moderation import UNCHECKED
from gateway.mockmoderation import create_mock_moderation_app
from tests.conftest import Gateway, GatewayFactory
from tests.support.processes import process
from tests.support.secrets_sweep import SWEEP
from tests.support.servers import AppServer, free_port

KEY = "sk-mod-" + "k3y" * 8
GORE = "A battlefield of gore and blood, soldiers killed and dismembered in the mud"
CALM = "A paper boat drifting down a rainy street"
DUEL = "Two knights fight a duel and one of them is killed"
MODERATION_RULES = """
rules:
  - id: classifier-graphic-violence
    when: {moderation: {category: violence/graphic, ge: 0.8}}
    action: deny
    tiers: [studios]
    message: Graphic violence is not available to studios.
  - id: classifier-violence-review
    when: {moderation: {category: violence, ge: 0.5}}
    action: hold
    tiers: [studios]
"""


def moderated(
    source: Path, folder: Path, url: str, *, timeout: str = "2s", on_error: str = "hold"
) -> Path:
    """The test policies plus moderation rules for studios and the service at `url`."""
    shutil.copytree(source, folder)
    service = f"moderation:\n  url: {url}/v1/moderations\n  timeout: {timeout}\n"
    (folder / "moderation.yaml").write_text(
        MODERATION_RULES + service + f"  on_error: {on_error}\n"
    )
    return folder


def calls(mock: AppServer | str) -> list[dict[str, Any]]:
    """What a mock was asked for, but the readiness probes (HEAD /) of the model API."""
    url = mock.url if isinstance(mock, AppServer) else mock
    found: list[dict[str, Any]] = httpx.get(f"{url}/_mock/requests").json()["data"]
    return [call for call in found if call.get("method") != "HEAD"]


def judged(gateway: Gateway, request_id: str) -> dict[str, Any]:
    """The request's write-ahead record or its refusal, once written."""
    deadline = time.monotonic() + 5
    while True:
        for segment in sorted((gateway.settings.data_dir / "audit").glob("audit-*.jsonl")):
            for line in segment.read_text().splitlines():
                record = json.loads(line)
                if record.get("request_id") == request_id and record["event"] in (
                    "generation_request",
                    "refusal",
                ):
                    return dict(record)
        assert time.monotonic() < deadline, f"no record of {request_id}"
        time.sleep(0.05)


@pytest.fixture
def classifier() -> Any:
    with AppServer(create_mock_moderation_app(key=KEY)) as server:
        yield server


@pytest.fixture
def gateway(
    tmp_path: Path,
    mock_model: AppServer,
    classifier: AppServer,
    start_gateway: GatewayFactory,
    unlimited_policies: Path,
) -> Gateway:
    policies = moderated(unlimited_policies, tmp_path / "policies", classifier.url)
    SWEEP.add_secret("moderation key", KEY)
    started = start_gateway(mock_model.url, policies=policies, moderation_key=KEY)
    started.set_phase("limited_preview")
    return started


def test_a_classifier_deny_names_its_rule_and_records_the_scores(
    gateway: Gateway, classifier: AppServer, mock_model: AppServer
) -> None:
    """Scores over the threshold deny with 403 policy_violation naming the rule; the
    model never sees the request; the refusal record holds the scores the rules used."""
    studio = gateway.client("studio-a", "studios")
    response = studio.post("/v1/videos", json={"model": "sora-2", "prompt": GORE})
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "policy_violation"
    assert error["rule"] == "classifier-graphic-violence"
    assert error["message"] == "Graphic violence is not available to studios."
    assert calls(classifier) == [{"input": GORE, "authorized": True}]
    assert calls(mock_model) == []
    refusal = judged(gateway, response.headers["x-request-id"])
    assert refusal["event"] == "refusal"
    moderation = refusal["moderation"]
    assert set(moderation["scores"]) == {"violence", "violence/graphic"}
    assert moderation["scores"]["violence/graphic"] >= 0.8
    assert moderation["error"] is None
    assert [r["id"] for r in refusal["rules"]] == [
        "classifier-graphic-violence",
        "classifier-violence-review",
    ]


def test_a_classifier_hold_queues_the_request(gateway: Gateway) -> None:
    studio = gateway.client("studio-b", "studios")
    response = studio.post("/v1/videos", json={"model": "sora-2", "prompt": DUEL})
    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    record = judged(gateway, response.headers["x-request-id"])
    assert record["decision"] == "hold"
    assert record["moderation"]["scores"]["violence"] >= 0.5


def test_one_call_for_two_requests_with_one_prompt(
    gateway: Gateway, classifier: AppServer, mock_model: AppServer
) -> None:
    """The second request with the same prompt is judged from the cache."""
    studio = gateway.client("studio-c", "studios")
    for _ in range(2):
        response = studio.post("/v1/videos", json={"model": "sora-2", "prompt": CALM})
        assert response.status_code == 200
    assert calls(classifier) == [{"input": CALM, "authorized": True}]
    assert len(calls(mock_model)) == 2
    record = judged(gateway, response.headers["x-request-id"])
    assert record["moderation"]["scores"] == {"violence": 0.0, "violence/graphic": 0.0}


def test_no_call_for_a_tier_no_moderation_rule_applies_to(
    gateway: Gateway, classifier: AppServer
) -> None:
    """Invited artists have no moderation rule: their prompt is never sent."""
    artist = gateway.client("artist-a", "invited_artists")
    response = artist.post("/v1/videos", json={"model": "sora-2", "prompt": GORE})
    assert response.status_code == 200
    assert calls(classifier) == []
    record = judged(gateway, response.headers["x-request-id"])
    assert record["moderation"] is None


def test_no_call_for_a_request_the_word_lists_deny(gateway: Gateway, classifier: AppServer) -> None:
    studio = gateway.client("studio-d", "studios")
    response = studio.post("/v1/videos", json={"prompt": "the pope in a gore-soaked arena"})
    assert response.status_code == 403
    assert response.json()["error"]["rule"] == "no-real-public-figures"
    assert calls(classifier) == []


def _failing_policies(tmp_path: Path, source: Path, url: str, on_error: str) -> Path:
    return moderated(
        source, tmp_path / f"policies-{on_error}", url, timeout="300ms", on_error=on_error
    )


@pytest.mark.parametrize(("on_error", "status"), [("hold", 202), ("deny", 403), ("allow", 200)])
def test_a_slow_classifier_reads_as_on_error(
    tmp_path: Path,
    mock_model: AppServer,
    start_gateway: GatewayFactory,
    unlimited_policies: Path,
    on_error: str,
    status: int,
) -> None:
    """Past the policy's timeout, every moderation rule reads as on_error: held, denied
    naming the rule, or not matched; the record says the service failed."""
    with AppServer(create_mock_moderation_app(delay=5.0)) as slow:
        policies = _failing_policies(tmp_path, unlimited_policies, slow.url, on_error)
        gateway = start_gateway(mock_model.url, policies=policies)
        gateway.set_phase("limited_preview")
        studio = gateway.client("studio-e", "studios")
        started = time.monotonic()
        response = studio.post("/v1/videos", json={"model": "sora-2", "prompt": CALM})
        waited = time.monotonic() - started
    assert response.status_code == status
    assert waited < 3.0  # the policy's 0.3 s timeout bounds the wait, with a wide margin
    if on_error == "deny":
        error = response.json()["error"]
        assert error["rule"] == "classifier-graphic-violence"
        assert error["message"] == UNCHECKED
    record = judged(gateway, response.headers["x-request-id"])
    moderation = record["moderation"]
    assert moderation == {
        "scores": None,
        "flagged": None,
        "error": "no answer within 0.3s",
        "on_error": on_error,
    }
    matched = [rule["id"] for rule in record["rules"]]
    expected = (
        [] if on_error == "allow" else ["classifier-graphic-violence", "classifier-violence-review"]
    )
    assert matched == expected


@pytest.mark.parametrize("failure", ["500", "garbage", "refused"])
def test_a_failing_classifier_reads_as_on_error(
    tmp_path: Path,
    mock_model: AppServer,
    start_gateway: GatewayFactory,
    unlimited_policies: Path,
    failure: str,
) -> None:
    async def broken(request: Request) -> Response:
        if failure == "500":
            return Response("internal error", 500)
        return Response(b"\x00\xffnot json", 200, media_type="application/json")

    app = Starlette(routes=[Route("/v1/moderations", broken, methods=["POST"])])
    with AppServer(app) as service:
        url = service.url if failure != "refused" else f"http://127.0.0.1:{free_port()}"
        policies = _failing_policies(tmp_path, unlimited_policies, url, "hold")
        gateway = start_gateway(mock_model.url, policies=policies)
        gateway.set_phase("limited_preview")
        studio = gateway.client("studio-f", "studios")
        response = studio.post("/v1/videos", json={"model": "sora-2", "prompt": CALM})
    assert response.status_code == 202
    record = judged(gateway, response.headers["x-request-id"])
    assert record["decision"] == "hold"
    assert record["moderation"]["on_error"] == "hold"
    reason = {"500": "answered 500", "garbage": "unreadable", "refused": "cannot be reached"}
    assert reason[failure] in record["moderation"]["error"]


def test_the_mock_moderation_command_serves_the_openai_shape() -> None:
    """`phasegate mock-moderation` answers in the OpenAI moderation API shape."""
    port = free_port()
    with process("mock-moderation", "--port", str(port), "--key", KEY):
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                answer = httpx.post(
                    f"{url}/v1/moderations",
                    json={"model": "omni-moderation-latest", "input": GORE},
                    headers={"Authorization": f"Bearer {KEY}"},
                )
                break
            except httpx.ConnectError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        refused = httpx.post(f"{url}/v1/moderations", json={"input": GORE})
    assert answer.status_code == 200
    (result,) = answer.json()["results"]
    assert result["flagged"] is True
    assert result["categories"]["violence/graphic"] is True
    assert result["category_scores"]["violence/graphic"] >= 0.8
    assert result["category_scores"]["sexual"] == 0.0
    assert refused.status_code == 401
