"""The admin and reviewer commands against a Redis state store (`--store redis://…` or
`redis+cluster://…`), sharing it with running gateways."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.support.processes import POLICIES, run
from tests.support.replicas import replicas
from tests.support.reviews import HELD, REVIEW_POLICIES, wait_for
from tests.support.servers import free_port


def _json(*args: str) -> object:
    result = run(*args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_admin_commands_keep_their_state_in_redis(tmp_path: Path, shared_redis: str) -> None:
    """grant, grants, revoke, keys and phase read and write the Redis store; the data dir
    holds no state file and the secret is shown once, stored nowhere."""
    settings = ["--store", shared_redis, "--data-dir", str(tmp_path), "--policies", str(POLICIES)]
    credential = _json("grant", "alice", "--tier", "studios", "--json", *settings)
    assert isinstance(credential, dict)
    listed = run("grants", "--json", *settings)
    assert credential["client_secret"] not in listed.stdout
    assert [row["client_id"] for row in json.loads(listed.stdout)] == [credential["client_id"]]

    assert run("revoke", "alice", *settings).returncode == 0
    assert run("revoke", "alice", *settings).returncode == 1  # nothing left to revoke
    rows = _json("grants", "--json", *settings)
    assert isinstance(rows, list)
    assert [row["revoked"] is not None for row in rows] == [True]

    assert run("keys", "rotate", *settings).returncode == 0
    keys = _json("keys", "list", "--json", *settings)
    assert isinstance(keys, list)
    assert sorted(key["state"] for key in keys) == ["signing", "verifying"]

    assert run("phase", "set", "limited_preview", "--actor", "ops", *settings).returncode == 0
    phase = _json("phase", "--json", *settings)
    assert isinstance(phase, dict)
    assert (phase["phase"], phase["source"]) == ("limited_preview", "set")
    assert [(c["phase"], c["actor"]) for c in phase["history"]] == [("limited_preview", "ops")]
    assert not (tmp_path / "state.db").exists()


def test_an_unreachable_redis_store_is_refused_without_its_password(tmp_path: Path) -> None:
    """Nothing listening: exit 1 naming the store, never echoing the URL's password."""
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    result = run("grants", "--store", url, "--data-dir", str(tmp_path), "--policies", str(POLICIES))
    assert result.returncode == 1
    assert "state store is unavailable" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_a_review_decided_by_the_cli_is_submitted_by_one_of_the_replicas(
    tmp_path: Path, shared_redis: str
) -> None:
    """A request held by one replica is listed and approved from the CLI, submitted by a
    gateway, and read as the model's job through any replica."""
    with replicas(
        tmp_path, REVIEW_POLICIES, admin_args=("--store", shared_redis), job_seconds=0
    ) as fleet:
        token = fleet.token("ada", "reviewed")
        headers = {"Authorization": f"Bearer {token}"}
        held = httpx.post(f"{fleet.urls[0]}/v1/videos", json=HELD, headers=headers, timeout=10)
        assert held.status_code == 202, held.text
        video_id = held.json()["id"]

        pending = fleet.admin("review", "list", "--json")
        assert [review["id"] for review in json.loads(pending.stdout)] == [video_id]
        approved = fleet.admin("review", "approve", video_id, "--reviewer", "kim")
        assert approved.returncode == 0, approved.stderr
        again = fleet.admin("review", "approve", video_id, "--reviewer", "lee")
        assert again.returncode == 1
        assert "already approved by kim" in again.stderr

        def completed_everywhere() -> bool:
            return all(
                httpx.get(f"{url}/v1/videos/{video_id}", headers=headers, timeout=10).json()[
                    "status"
                ]
                == "completed"
                for url in fleet.urls
            )

        wait_for(completed_everywhere, what="the approved request to complete")
        shown = json.loads(fleet.admin("review", "show", video_id, "--json").stdout)
        assert shown["state"] == "submitted"
