"""Concurrency slots follow the job, not the client's habits: whatever answer shows a job
ended frees its slot (a read, each item of a listing, a download), and the lease
reconciler frees the slots of jobs nobody looks at again."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from gateway.mockmodel.app import create_mock_app
from tests.conftest import GatewayFactory
from tests.support.reviews import wait_for
from tests.support.servers import AppServer

LIMITS_POLICIES = Path(__file__).resolve().parents[2] / "fixtures" / "limits_policies"
VIDEO = {"model": "sora-2", "prompt": "a kite over dunes", "seconds": "4"}
JOB_SECONDS = 0.5


def _fill_both_slots(client: httpx.Client) -> list[str]:
    """Two jobs in flight (the `inflight` tier's limit); a third create is refused."""
    created = [client.post("/v1/videos", json=VIDEO) for _ in range(2)]
    assert [r.status_code for r in created] == [200, 200]
    refused = client.post("/v1/videos", json=VIDEO)
    assert refused.status_code == 429
    assert "'jobs_in_flight'" in refused.json()["error"]["message"]
    return [r.json()["id"] for r in created]


def test_a_client_that_only_lists_gets_its_slots_back(start_gateway: GatewayFactory) -> None:
    """Following jobs through GET /v1/videos frees their slots once the list shows them done."""
    with AppServer(create_mock_app(job_seconds=JOB_SECONDS)) as model:
        gateway = start_gateway(model.url, policies=LIMITS_POLICIES)
        client = gateway.client("alice", "inflight")
        ids = _fill_both_slots(client)

        def all_listed_completed() -> bool:
            listed = client.get("/v1/videos").json()["data"]
            return {v["id"]: v["status"] for v in listed} == dict.fromkeys(ids, "completed")

        wait_for(all_listed_completed, what="the listing to show both jobs completed")
        again = [client.post("/v1/videos", json=VIDEO).status_code for _ in range(3)]
        assert again == [200, 200, 429]


def test_a_download_frees_the_slot(start_gateway: GatewayFactory) -> None:
    """Content exists only for a completed job: downloading it ends the job's hold."""
    with AppServer(create_mock_app(job_seconds=JOB_SECONDS)) as model:
        gateway = start_gateway(model.url, policies=LIMITS_POLICIES)
        client = gateway.client("alice", "inflight")
        first, _ = _fill_both_slots(client)
        wait_for(
            lambda: client.get(f"/v1/videos/{first}/content").status_code == 200,
            what="the first job's content",
        )
        assert client.post("/v1/videos", json=VIDEO).status_code == 200


def test_a_client_that_never_polls_gets_its_slots_back(start_gateway: GatewayFactory) -> None:
    """With no read of any kind, the reconciler asks the model API and frees ended jobs."""
    with AppServer(create_mock_app(job_seconds=JOB_SECONDS)) as model:
        gateway = start_gateway(model.url, policies=LIMITS_POLICIES, reconcile_after=1.0)
        client = gateway.client("alice", "inflight")
        ids = _fill_both_slots(client)
        httpx.delete(f"{model.url}/_mock/requests").raise_for_status()
        started = time.monotonic()
        wait_for(
            lambda: client.post("/v1/videos", json=VIDEO).status_code == 200,
            timeout=10,
            what="a slot to come back",
        )
        # Both slots came back within a couple of reconcile periods, far from the 1 h lease.
        assert time.monotonic() - started < 8
        assert client.post("/v1/videos", json=VIDEO).status_code == 200
        asked = httpx.get(f"{model.url}/_mock/requests").json()["data"]
        reads = {e["path"] for e in asked if e["method"] == "GET"}
        assert {f"/v1/videos/{job_id}" for job_id in ids} <= reads


def test_the_reconciler_leaves_running_jobs_their_slots(start_gateway: GatewayFactory) -> None:
    """A job still running when its check comes keeps its slot; it is asked again later."""
    with AppServer(create_mock_app(job_seconds=60)) as model:
        gateway = start_gateway(model.url, policies=LIMITS_POLICIES, reconcile_after=0.3)
        client = gateway.client("alice", "inflight")
        ids = _fill_both_slots(client)

        def asked_twice() -> bool:
            seen = httpx.get(f"{model.url}/_mock/requests").json()["data"]
            paths = [e["path"] for e in seen if e["method"] == "GET"]
            return all(paths.count(f"/v1/videos/{job_id}") >= 2 for job_id in ids)

        wait_for(asked_twice, what="each running job to be checked twice")
        assert client.post("/v1/videos", json=VIDEO).status_code == 429
