"""Rollout phases, tier constraints and usage rules, enforced through the running gateway
in front of the mock model API, with the shipped policies."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from pathlib import Path

import httpx
import pytest
import structlog

from gateway.core.policy import rollout_bucket
from tests.conftest import Gateway, GatewayFactory
from tests.support.policies import without_limits
from tests.support.servers import AppServer
from tests.support.tokens import on_store

VIDEO = {"model": "sora-2", "prompt": "A paper boat drifting down a rainy street", "seconds": "4"}


def _upstream_requests(mock_model: AppServer) -> list[dict[str, object]]:
    seen: list[dict[str, object]] = httpx.get(f"{mock_model.url}/_mock/requests").json()["data"]
    return seen


def _forwarded_headers(mock_model: AppServer) -> dict[str, str]:
    headers = _upstream_requests(mock_model)[-1]["headers"]
    assert isinstance(headers, list)
    return {str(k).lower(): str(v) for k, v in headers}


def test_tier_outside_the_phase_is_refused_until_the_phase_opens(gateway: Gateway) -> None:
    """Studios get 403 tier_not_in_phase in the research preview, and pass once it moves on."""
    studio = gateway.client("studio-a", "studios")
    refused = studio.post("/v1/videos", json=VIDEO)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "tier_not_in_phase"
    assert studio.get("/v1/videos").status_code == 403
    gateway.set_phase("limited_preview")
    assert studio.post("/v1/videos", json=VIDEO).status_code == 200


def test_readiness_names_the_phase_the_gateway_enforces(gateway: Gateway) -> None:
    """/readyz names the policy's default phase until an admin sets one, then the phase set;
    once it names the new phase, the gateway admits by it without any further wait."""
    studio = gateway.client("studio-r", "studios")
    assert gateway.served_phase() == "research_preview"
    assert studio.post("/v1/videos", json=VIDEO).status_code == 403
    gateway.set_phase("limited_preview")
    assert gateway.served_phase() == "limited_preview"
    assert studio.post("/v1/videos", json=VIDEO).status_code == 200
    gateway.set_phase("research_preview")
    refused = studio.post("/v1/videos", json=VIDEO)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "tier_not_in_phase"


def test_public_rollout_admits_by_a_stable_hash(gateway: Gateway) -> None:
    """In general availability only the public principals under the 10% rollout get in."""
    gateway.set_phase("general_availability")
    names = [f"member-{index}" for index in range(40)]
    admitted = [n for n in names if rollout_bucket(n, "public") < 10]
    waitlisted = [n for n in names if rollout_bucket(n, "public") >= 10]
    assert admitted
    assert waitlisted
    assert gateway.client(admitted[0], "public").post("/v1/videos", json=VIDEO).status_code == 200
    refused = gateway.client(waitlisted[0], "public").post("/v1/videos", json=VIDEO)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "waitlisted"


@pytest.mark.parametrize(
    ("change", "status", "code", "param"),
    [
        ({"model": "sora-3"}, 403, "model_not_allowed", "model"),
        ({"seconds": "16"}, 400, "invalid_request", "seconds"),
        ({"seconds": 16}, 400, "invalid_request", "seconds"),
        ({"size": "640x480"}, 400, "invalid_request", "size"),
    ],
)
def test_tier_constraints(
    gateway: Gateway,
    mock_model: AppServer,
    change: dict[str, object],
    status: int,
    code: str,
    param: str,
) -> None:
    """A model, length or size beyond the tier is refused, naming the field, never forwarded."""
    httpx.delete(f"{mock_model.url}/_mock/requests")
    response = gateway.client("artist").post("/v1/videos", json={**VIDEO, **change})
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["param"] == param
    assert _upstream_requests(mock_model) == []


def test_deny_rule_refuses_with_its_id_and_message(gateway: Gateway, mock_model: AppServer) -> None:
    """A denied prompt gets 403 policy_violation naming the rule, and never reaches the model."""
    gateway.set_phase("limited_preview")
    httpx.delete(f"{mock_model.url}/_mock/requests")
    studio = gateway.client("studio-b", "studios")
    response = studio.post(
        "/v1/videos", json={**VIDEO, "prompt": "The Prime Minister dancing in the rain"}
    )
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "policy_violation"
    assert error["rule"] == "no-real-public-figures"
    assert error["message"] == "Videos of real public figures are not allowed in this phase."
    assert _upstream_requests(mock_model) == []


def test_deny_rule_sees_through_obfuscation(gateway: Gateway, mock_model: AppServer) -> None:
    """Fullwidth letters, zero-width characters and dotted letters do not slip past a list:
    each is refused by the public figures rule, and none reaches the model."""
    gateway.set_phase("limited_preview")
    httpx.delete(f"{mock_model.url}/_mock/requests")
    studio = gateway.client("studio-c", "studios")
    for prompt in (
        "the ｐｒｉｍｅ minister waves",
        "the pri\u200bme minister waves",
        "the pr\u00efme m\u00efnister waves",
    ):
        response = studio.post("/v1/videos", json={**VIDEO, "prompt": prompt})
        assert response.status_code == 403, prompt
        error = response.json()["error"]
        refusal = (error["code"], error.get("rule"))
        assert refusal == ("policy_violation", "no-real-public-figures"), prompt
    assert _upstream_requests(mock_model) == []


def test_rule_scoped_to_other_tiers_does_not_apply(gateway: Gateway) -> None:
    """Invited artists are not bound by the studio and public rule on public figures."""
    response = gateway.client("artist").post(
        "/v1/videos", json={**VIDEO, "prompt": "The Prime Minister dancing in the rain"}
    )
    assert response.status_code == 200


def test_hold_answers_202_queued_and_stores_the_request(
    gateway: Gateway, mock_model: AppServer
) -> None:
    """A held request answers a queued video object, is stored for review, and is not forwarded."""
    gateway.set_phase("limited_preview")
    httpx.delete(f"{mock_model.url}/_mock/requests")
    body = {**VIDEO, "prompt": "photorealistic documentary of a fish market", "seconds": "12"}
    response = gateway.client("studio-d", "studios").post("/v1/videos", json=body)
    assert response.status_code == 202
    video = response.json()
    assert video["object"] == "video"
    assert video["status"] == "queued"
    assert video["id"].startswith("video_")
    assert _upstream_requests(mock_model) == []
    held = on_store(gateway.state_file, lambda store: store.held_request(video["id"]))
    assert held is not None
    assert held.principal == "studio-d"
    assert held.rule_ids == ("long-realistic-humans",)
    assert b"fish market" in held.body


def test_held_job_reads_as_queued_to_its_owner_only(gateway: Gateway) -> None:
    """A held job polls as queued, is listed, cannot be downloaded yet, and is 404 to others."""
    gateway.set_phase("limited_preview")
    studio = gateway.client("studio-f", "studios")
    body = {**VIDEO, "prompt": "photorealistic documentary of a train station", "seconds": "12"}
    video_id = studio.post("/v1/videos", json=body).json()["id"]
    polled = studio.get(f"/v1/videos/{video_id}")
    assert polled.status_code == 200
    assert polled.json()["status"] == "queued"
    assert polled.json()["seconds"] == "12"
    assert [v["id"] for v in studio.get("/v1/videos").json()["data"]] == [video_id]
    download = studio.get(f"/v1/videos/{video_id}/content")
    assert download.status_code == 400
    assert download.json()["error"]["code"] == "video_not_ready"
    other = gateway.client("studio-g", "studios")
    assert other.get(f"/v1/videos/{video_id}").status_code == 404


def test_flag_forwards_and_marks(gateway: Gateway, mock_model: AppServer) -> None:
    """A flagged request reaches the model API with the flagging rules named."""
    response = gateway.client("artist").post(
        "/v1/videos", json={**VIDEO, "prompt": "a cowboy cleaning his rifle at dawn"}
    )
    assert response.status_code == 200
    assert _forwarded_headers(mock_model)["x-phasegate-flags"] == "weapons"


def test_shadow_rule_is_never_enforced_but_recorded(
    gateway: Gateway, mock_model: AppServer
) -> None:
    """A request matching only a shadow deny rule is forwarded unmarked, and the match logged."""
    artist = gateway.client("artist")
    with structlog.testing.capture_logs() as logs:
        response = artist.post(
            "/v1/videos", json={**VIDEO, "prompt": "a deepfake of a friendly robot"}
        )
    assert response.status_code == 200
    assert "x-phasegate-flags" not in _forwarded_headers(mock_model)
    decisions = [entry for entry in logs if entry["event"] == "policy_decision"]
    assert [d["rules"] for d in decisions] == [
        [{"id": "deepfake-terms-trial", "action": "deny", "shadow": True}]
    ]
    assert decisions[0]["action"] == "allow"


def test_multipart_is_judged_like_json(gateway: Gateway, mock_model: AppServer) -> None:
    """A multipart request is judged on its prompt, and its file reaches the model unchanged."""
    gateway.set_phase("limited_preview")
    studio = gateway.client("studio-e", "studios")
    denied = studio.post(
        "/v1/videos",
        data={"model": "sora-2", "prompt": "the prime minister on a bike", "seconds": "4"},
        files={"input_reference": ("ref.png", b"\x89PNG" + b"x" * 2000, "image/png")},
    )
    assert denied.status_code == 403
    assert denied.json()["error"]["rule"] == "no-real-public-figures"
    image = bytes(range(256)) * 16
    request = studio.build_request(
        "POST",
        "/v1/videos",
        data={"model": "sora-2", "prompt": "a lighthouse in fog", "seconds": "4"},
        files={"input_reference": ("ref.png", image, "image/png")},
    )
    sent = request.read()
    allowed = studio.send(request)
    assert allowed.status_code == 200, allowed.text
    forwarded = _upstream_requests(mock_model)[-1]
    assert forwarded["body_sha256"] == hashlib.sha256(sent).hexdigest()


@pytest.mark.parametrize(
    ("content", "content_type", "param"),
    [
        (b'{"prompt": "a cat", "prompt": "the prime minister"}', "application/json", "prompt"),
        (b'{"prompt": "a cat", "seconds": {"x": 1}}', "application/json", "seconds"),
        (b'["prompt"]', "application/json", None),
        (b"{not json", "application/json", None),
        (b'{"seconds": "4"}', "application/json", "prompt"),
    ],
)
def test_ambiguous_or_malformed_bodies_are_400(
    gateway: Gateway, mock_model: AppServer, content: bytes, content_type: str, param: str | None
) -> None:
    """Bodies two parsers could read differently, or not at all, are refused with 400."""
    httpx.delete(f"{mock_model.url}/_mock/requests")
    response = gateway.client("artist").post(
        "/v1/videos", content=content, headers={"content-type": content_type}
    )
    assert response.status_code == 400
    assert response.json()["error"].get("param") == param
    assert _upstream_requests(mock_model) == []


def test_repeated_multipart_prompt_is_400(gateway: Gateway) -> None:
    """A multipart body with two prompts is refused: the policy and the model must read one."""
    boundary = "XyZ"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\na cat\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\n'
        f"the prime minister\r\n--{boundary}--\r\n"
    ).encode()
    response = gateway.client("artist").post(
        "/v1/videos",
        content=body,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "prompt"


def test_reference_image_over_the_limit_is_413(
    mock_model: AppServer, start_gateway: GatewayFactory
) -> None:
    """An input_reference file over --max-reference is refused with 413."""
    gateway = start_gateway(mock_model.url, max_reference=1024)
    response = gateway.client("artist").post(
        "/v1/videos",
        data={"model": "sora-2", "prompt": "a lighthouse", "seconds": "4"},
        files={"input_reference": ("ref.png", b"x" * 4096, "image/png")},
    )
    assert response.status_code == 413


EXTRA_RULE = """
rules:
  - id: no-lighthouses
    when: {prompt_matches_any: [lighthouse]}
    action: deny
    message: No lighthouses today.
"""


def _policy_copy(tmp_path: Path) -> Path:
    return without_limits(tmp_path / "policies")


def test_policy_change_is_picked_up_and_a_bad_one_refused(
    mock_model: AppServer, start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    """A valid edit is enforced within seconds; an invalid one leaves the last valid in force."""
    folder = _policy_copy(tmp_path)
    gateway = start_gateway(mock_model.url, policies=folder, policy_poll=0.1)
    artist = gateway.client("artist")
    lighthouse = {**VIDEO, "prompt": "a lighthouse in fog"}
    assert artist.post("/v1/videos", json=lighthouse).status_code == 200

    (folder / "extra.yaml").write_text(EXTRA_RULE)
    deadline = time.monotonic() + 3
    while artist.post("/v1/videos", json=lighthouse).status_code != 403:
        assert time.monotonic() < deadline, "the new rule was never enforced"
        time.sleep(0.05)

    (folder / "broken.yaml").write_text("rules:\n  - id: no-lighthouses\n    when: {}\n")
    deadline = time.monotonic() + 3
    while httpx.get(f"{gateway.url}/readyz").json()["policy"]["reloads_refused"] == 0:
        assert time.monotonic() < deadline, "the broken policy was never looked at"
        time.sleep(0.05)
    response = artist.post("/v1/videos", json=lighthouse)
    assert response.status_code == 403
    assert response.json()["error"]["rule"] == "no-lighthouses"
    audit_dir = gateway.settings.data_dir / "audit"
    reloads = [
        json.loads(line)
        for segment in sorted(audit_dir.glob("audit-*.jsonl"))
        for line in segment.read_text().splitlines()
        if '"policy_reload"' in line
    ]
    assert [r["outcome"] for r in reloads][:2] == ["loaded", "rejected"]
    assert reloads[1]["errors"]


def test_reload_under_traffic_fails_no_request(
    mock_model: AppServer, start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    """Policy versions swapping back and forth under concurrent traffic never fail a request."""
    folder = _policy_copy(tmp_path)
    gateway = start_gateway(mock_model.url, policies=folder, policy_poll=0.05)
    artist = gateway.client("artist")
    statuses: list[int] = []
    stop = threading.Event()

    def traffic() -> None:
        with httpx.Client(base_url=gateway.url, headers=dict(artist.headers)) as client:
            while not stop.is_set():
                statuses.append(
                    client.post("/v1/videos", json={**VIDEO, "prompt": "a lighthouse"}).status_code
                )

    workers = [threading.Thread(target=traffic) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        for _ in range(10):
            (folder / "extra.yaml").write_text(EXTRA_RULE)
            time.sleep(0.15)
            (folder / "extra.yaml").unlink()
            time.sleep(0.15)
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert statuses
    assert set(statuses) <= {200, 403}
    assert 200 in statuses
    assert 403 in statuses


def test_base64_transfer_encoded_part_is_judged_decoded(
    gateway: Gateway, mock_model: AppServer
) -> None:
    """A form part sent with Content-Transfer-Encoding: base64 is judged on the text it
    encodes: a listed phrase in it is 403 policy_violation, and nothing is forwarded."""
    gateway.set_phase("limited_preview")
    httpx.delete(f"{mock_model.url}/_mock/requests")
    studio = gateway.client("studio-cte", "studios")
    hidden = base64.b64encode(b"The prime minister dancing in the rain")
    boundary = "phasegate-cte"
    body = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="model"\r\n\r\nsora-2\r\n'
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="prompt"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n"
        ).encode()
        + hidden
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = studio.post(
        "/v1/videos",
        content=body,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert (error["code"], error["rule"]) == ("policy_violation", "no-real-public-figures")
    assert _upstream_requests(mock_model) == []


def test_listed_phrase_in_the_reference_file_name_is_refused(
    gateway: Gateway, mock_model: AppServer
) -> None:
    """The input_reference file name is read like the prompt: a listed phrase there is
    403 policy_violation naming the rule, and nothing is forwarded."""
    gateway.set_phase("limited_preview")
    httpx.delete(f"{mock_model.url}/_mock/requests")
    studio = gateway.client("studio-name", "studios")
    response = studio.post(
        "/v1/videos",
        data={"model": "sora-2", "prompt": "a calm scene like the reference", "seconds": "4"},
        files={"input_reference": ("prime_minister.png", b"\x89PNG" + b"x" * 64, "image/png")},
    )
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert (error["code"], error["rule"]) == ("policy_violation", "no-real-public-figures")
    assert _upstream_requests(mock_model) == []
