"""Prometheus metrics through the running gateway: what an operator scraping `/metrics`
sees after real requests through the mock model API."""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Iterable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.conftest import Gateway, GatewayFactory
from tests.support.processes import POLICIES, run
from tests.support.servers import AppServer, free_port

LIMITS_POLICIES = Path(__file__).resolve().parents[2] / "fixtures" / "limits_policies"
VIDEO = {"model": "sora-2", "prompt": "a kite over dunes", "seconds": "4"}

Labels = tuple[tuple[str, str], ...]


def _scrape(url: str) -> list[Sample]:
    response = httpx.get(f"{url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = text_string_to_metric_families(response.text)
    return [sample for family in families for sample in family.samples]


def _series(samples: Iterable[Sample], name: str) -> dict[Labels, float]:
    return {tuple(sorted(s.labels.items())): s.value for s in samples if s.name == name}


def _value(samples: Iterable[Sample], name: str, **labels: str) -> float:
    [value] = [s.value for s in samples if s.name == name and s.labels == labels]
    return value


def _requests(**labels: str) -> Labels:
    return tuple(sorted(labels.items()))


def _eventually(url: str, name: str, expected: float, **labels: str) -> list[Sample]:
    """Scrapes until the sample has its expected value (records written after the answer
    and policy reloads land a moment later); the last scrape either way."""
    deadline = time.monotonic() + 5
    while True:
        samples = _scrape(url)
        found = [s.value for s in samples if s.name == name and s.labels == labels]
        if found == [expected] or time.monotonic() > deadline:
            return samples
        time.sleep(0.05)


def test_metrics_need_no_token(gateway: Gateway) -> None:
    """/metrics answers without a token, with a request id like every answer, and names
    every metric before anything has happened."""
    response = httpx.get(f"{gateway.url}/metrics")
    assert response.status_code == 200
    assert response.headers["x-request-id"]
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert names >= {
        "phasegate_requests",
        "phasegate_requests_in_flight",
        "phasegate_limit_refusals",
        "phasegate_audit_write_seconds",
        "phasegate_audit_write_failures",
        "phasegate_upstream_request_seconds",
        "phasegate_policy_reloads",
        "phasegate_dependency_up",
        "phasegate_policy_info",
    }
    samples = _scrape(gateway.url)
    assert _series(samples, "phasegate_dependency_up") == {
        (("dependency", name),): 1.0 for name in ("upstream", "store", "limits", "audit")
    }
    assert _series(samples, "phasegate_policy_reloads_total") == {
        (("outcome", "accepted"),): 0.0,
        (("outcome", "refused"),): 0.0,
    }


def test_requests_and_limit_refusals_are_counted(
    mock_model: AppServer, start_gateway: GatewayFactory
) -> None:
    """Three admitted generation requests, a fourth refused by the burst of 3, and a
    listing give exactly those counts, by route kind, tier, decision and status."""
    gateway = start_gateway(mock_model.url, policies=LIMITS_POLICIES)
    client = gateway.client("alice", "burst3")
    statuses = [client.post("/v1/videos", json=VIDEO).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    assert client.get("/v1/videos").status_code == 200

    samples = _scrape(gateway.url)
    assert _series(samples, "phasegate_requests_total") == {
        _requests(route="create_video", tier="burst3", decision="allow", status="200"): 3.0,
        _requests(route="create_video", tier="burst3", decision="rate_limited", status="429"): 1.0,
        _requests(route="list_videos", tier="burst3", decision="allow", status="200"): 1.0,
    }
    # Every limit the policy declares is there from the start; only `requests` refused.
    refusals = _series(samples, "phasegate_limit_refusals_total")
    assert refusals[(("limit", "requests"),)] == 1.0
    assert refusals[(("limit", "video_seconds"),)] == 0.0
    assert sum(refusals.values()) == 1.0
    # The refused request never reached the model API.
    upstream = _series(samples, "phasegate_upstream_request_seconds_count")
    creates = {labels: n for labels, n in upstream.items() if ("route", "create_video") in labels}
    assert creates == {(("route", "create_video"), ("status_class", "2xx")): 3.0}
    assert _value(samples, "phasegate_requests_in_flight") == 0.0
    # Each admitted generation request wrote its write-ahead record before going on.
    assert _value(samples, "phasegate_audit_write_seconds_count") >= 3.0
    assert _value(samples, "phasegate_audit_write_failures_total") == 0.0


def test_decisions_are_labelled_as_in_the_audit_log(gateway: Gateway) -> None:
    """allow, flag, hold and deny from the shipped rules; refused for a missing or bad token."""
    gateway.set_phase("limited_preview")
    artist = gateway.client("artist")
    studio = gateway.client("studio", "studios")
    assert artist.post("/v1/videos", json=VIDEO).status_code == 200
    assert artist.post("/v1/videos", json={**VIDEO, "prompt": "a rifle on a table"}).is_success
    held = {**VIDEO, "prompt": "photorealistic documentary of a market", "seconds": "12"}
    assert studio.post("/v1/videos", json=held).status_code == 202
    denied = {**VIDEO, "prompt": "The Prime Minister dancing in the rain"}
    assert studio.post("/v1/videos", json=denied).status_code == 403
    assert httpx.post(f"{gateway.url}/v1/videos", json=VIDEO).status_code == 401
    bad_token = {"Authorization": "Bearer not-a-token"}
    assert httpx.post(f"{gateway.url}/v1/videos", json=VIDEO, headers=bad_token).status_code == 401

    assert _series(_scrape(gateway.url), "phasegate_requests_total") == {
        _requests(route="create_video", tier="invited_artists", decision="allow", status="200"): 1,
        _requests(route="create_video", tier="invited_artists", decision="flag", status="200"): 1,
        _requests(route="create_video", tier="studios", decision="hold", status="202"): 1,
        _requests(route="create_video", tier="studios", decision="deny", status="403"): 1,
        _requests(route="create_video", tier="none", decision="refused", status="401"): 2,
    }


def test_an_audit_sink_that_cannot_write_shows(
    mock_model: AppServer, start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    """With the audit folder unwritable, the failed writes are counted, the audit
    dependency reads 0, and the refused request is counted with its 503."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the audit folder should be")
    gateway = start_gateway(mock_model.url, audit=f"file://{blocker}/audit")
    assert gateway.client("artist").post("/v1/videos", json=VIDEO).status_code == 503

    samples = _scrape(gateway.url)
    assert _value(samples, "phasegate_audit_write_failures_total") >= 1.0
    assert _value(samples, "phasegate_audit_write_seconds_count") == 0.0
    assert _value(samples, "phasegate_dependency_up", dependency="audit") == 0.0
    assert _value(samples, "phasegate_dependency_up", dependency="upstream") == 1.0
    assert _series(samples, "phasegate_requests_total") == {
        _requests(route="create_video", tier="invited_artists", decision="refused", status="503"): 1
    }


def test_an_unreachable_model_api_shows(start_gateway: GatewayFactory) -> None:
    """A model API that cannot be reached: 502 counted, the failed attempt timed under
    status class `error`, and the upstream dependency at 0."""
    gateway = start_gateway(f"http://127.0.0.1:{free_port()}")
    assert gateway.client("artist").post("/v1/videos", json=VIDEO).status_code == 502

    samples = _scrape(gateway.url)
    assert _value(samples, "phasegate_dependency_up", dependency="upstream") == 0.0
    assert _series(samples, "phasegate_upstream_request_seconds_count") == {
        (("route", "create_video"), ("status_class", "error")): 1.0
    }
    assert _series(samples, "phasegate_requests_total") == {
        _requests(route="create_video", tier="invited_artists", decision="allow", status="502"): 1
    }


def test_a_limiter_that_is_down_shows(mock_model: AppServer, start_gateway: GatewayFactory) -> None:
    """Limits in a Redis nobody runs: the limits dependency reads 0 after a generation
    request was refused for it."""
    gateway = start_gateway(
        mock_model.url, policies=LIMITS_POLICIES, limits=f"redis://127.0.0.1:{free_port()}/0"
    )
    assert gateway.client("alice", "burst3").post("/v1/videos", json=VIDEO).status_code == 503
    samples = _scrape(gateway.url)
    assert _value(samples, "phasegate_dependency_up", dependency="limits") == 0.0
    assert _value(samples, "phasegate_limit_refusals_total", limit="requests") == 0.0


def test_readiness_checks_update_the_dependencies(start_gateway: GatewayFactory) -> None:
    """Without any request, a readiness probe finds the model API down, and so does /metrics."""
    gateway = start_gateway(f"http://127.0.0.1:{free_port()}")
    assert _value(_scrape(gateway.url), "phasegate_dependency_up", dependency="upstream") == 1.0
    assert httpx.get(f"{gateway.url}/readyz").status_code == 503
    assert _value(_scrape(gateway.url), "phasegate_dependency_up", dependency="upstream") == 0.0


def test_policy_reloads_are_counted(
    mock_model: AppServer, start_gateway: GatewayFactory, unlimited_policies: Path, tmp_path: Path
) -> None:
    """An accepted reload counts and names the new version; an invalid one counts as
    refused and the version in force stays."""
    policies = tmp_path / "policies"
    shutil.copytree(unlimited_policies, policies)
    gateway = start_gateway(mock_model.url, policies=policies, policy_poll=0.05)
    first = httpx.get(f"{gateway.url}/readyz").json()["policy"]["version"]
    assert _value(_scrape(gateway.url), "phasegate_policy_info", version=first) == 1.0

    rules = policies / "rules.yaml"
    rules.write_text(rules.read_text() + "\n# a comment changes the version\n")
    samples = _eventually(gateway.url, "phasegate_policy_reloads_total", 1.0, outcome="accepted")
    second = httpx.get(f"{gateway.url}/readyz").json()["policy"]["version"]
    assert second != first
    assert _value(samples, "phasegate_policy_reloads_total", outcome="accepted") == 1.0
    assert _value(samples, "phasegate_policy_reloads_total", outcome="refused") == 0.0
    assert _series(samples, "phasegate_policy_info") == {(("version", second),): 1.0}

    rules.write_text(rules.read_text() + "\nnot: [valid\n")
    samples = _eventually(gateway.url, "phasegate_policy_reloads_total", 1.0, outcome="refused")
    assert _value(samples, "phasegate_policy_reloads_total", outcome="refused") == 1.0
    assert _value(samples, "phasegate_policy_reloads_total", outcome="accepted") == 1.0
    assert _series(samples, "phasegate_policy_info") == {(("version", second),): 1.0}


def test_no_label_names_a_caller_a_job_a_path_or_a_secret(gateway: Gateway) -> None:
    """Principal, client id, token, job id and raw paths never become label values."""
    credential = gateway.grant("principal-7f3a9c")
    token = gateway.token(credential)
    client = httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {token}"})
    with client:
        video_id = client.post("/v1/videos", json=VIDEO).json()["id"]
        assert client.get(f"/v1/videos/{video_id}").status_code == 200
        assert client.get("/v1/videos/video_not-mine-4e1d").status_code == 404
        client.get("/v1/unlisted-path-2b8e")
    samples = _scrape(gateway.url)
    forbidden = (
        "principal-7f3a9c",
        credential.client_id,
        credential.client_secret,
        token,
        video_id,
        "not-mine-4e1d",
        "unlisted-path-2b8e",
    )
    values = {value for sample in samples for value in sample.labels.values()}
    assert values
    assert [v for v in values if any(secret in v for secret in forbidden)] == []
    routes = {s.labels["route"] for s in samples if s.name == "phasegate_requests_total"}
    assert routes == {"create_video", "read_video", "unknown"}


@pytest.mark.parametrize("with_token", [False, True], ids=["no token", "token"])
def test_metrics_port_serves_metrics_alone(
    mock_model: AppServer, start_gateway: GatewayFactory, with_token: bool
) -> None:
    """With --metrics-port, /metrics is served there (any other path there is 404), and the
    main port answers /metrics exactly as it answers a path it does not serve itself."""
    port = free_port()
    gateway = start_gateway(mock_model.url, metrics_port=port)
    metrics_url = f"http://127.0.0.1:{port}"
    client = gateway.client("artist")
    assert client.post("/v1/videos", json=VIDEO).status_code == 200

    samples = _scrape(metrics_url)
    assert _series(samples, "phasegate_requests_total") == {
        _requests(route="create_video", tier="invited_artists", decision="allow", status="200"): 1
    }
    assert httpx.get(f"{metrics_url}/").status_code == 404
    assert httpx.get(f"{metrics_url}/readyz").status_code == 404

    caller = client if with_token else httpx.Client(base_url=gateway.url)
    on_main = caller.get("/metrics")
    unknown = caller.get("/v1/nothing-here")
    caller.close()
    assert on_main.status_code == unknown.status_code
    assert on_main.headers["content-type"] == unknown.headers["content-type"]
    assert "phasegate_requests_total" not in on_main.text
    if not with_token:
        assert on_main.status_code == 401
        assert on_main.json()["error"]["code"] == "missing_token"


def test_metrics_port_in_use_stops_the_start(mock_model: AppServer, tmp_path: Path) -> None:
    """A metrics port that cannot be bound stops `phasegate serve` at start, saying why,
    rather than leaving it serving without its metrics."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        result = run(
            "serve",
            *("--port", str(free_port()), "--metrics-port", port, "--upstream", mock_model.url),
            *("--data-dir", str(tmp_path / "data"), "--policies", str(POLICIES)),
        )
    assert result.returncode != 0
    assert f"--metrics-port {port}: Address already in use" in result.stderr
