"""`phasegate review list | show | approve | reject` on the queue of a running gateway:
outputs, refusals and exit codes, audit events, and reviewers acting at once."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import httpx
import pytest

from tests.conftest import Gateway, GatewayFactory
from tests.support.reviews import (
    HELD,
    REVIEW_POLICIES,
    Reviewer,
    creations,
    video,
    wait_status,
)
from tests.support.servers import AppServer


@pytest.fixture
def reviewed(mock_model: AppServer, start_gateway: GatewayFactory) -> Gateway:
    return start_gateway(mock_model.url, policies=REVIEW_POLICIES)


@pytest.fixture
def reviewer(reviewed: Gateway) -> Reviewer:
    return Reviewer(reviewed.settings.data_dir)


def _hold(client: httpx.Client, prompt: str = HELD["prompt"]) -> str:
    response = client.post("/v1/videos", json={**HELD, "prompt": prompt})
    assert response.status_code == 202, response.text
    video_id: str = response.json()["id"]
    return video_id


def test_list_shows_pending_reviews_oldest_first(reviewed: Gateway, reviewer: Reviewer) -> None:
    """Pending reviews in hold order with tier, principal and rules; decided ones only with
    --all, with their state; the table shows a prompt excerpt."""
    ada = reviewed.client("ada", "reviewed")
    bo = reviewed.client("bo", "capped")
    long_prompt = "hold for review " + "a very long and winding prompt " * 10
    first = _hold(ada)
    second = _hold(bo, long_prompt)
    third = _hold(ada)
    reviewer.approve(third)

    listed = reviewer("list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["id"], r["tier"], r["principal"]) for r in rows] == [
        (first, "reviewed", "ada"),
        (second, "capped", "bo"),
    ]
    assert rows[1]["prompt"] == long_prompt
    assert rows[1]["rules"] == ["needs-review"]
    everything = json.loads(reviewer("list", "--all", "--json").stdout)
    assert [r["id"] for r in everything] == [first, second, third]
    assert everything[2]["state"] in ("approved", "submitting", "submitted")

    table = reviewer("list")
    assert table.returncode == 0
    header, *lines = table.stdout.splitlines()
    assert header.split() == ["id", "age", "tier", "principal", "prompt", "rules"]
    assert [line.split()[0] for line in lines] == [first, second]
    assert long_prompt not in table.stdout
    assert "hold for review a very long" in table.stdout


def test_show_tells_everything_about_a_review(reviewed: Gateway, reviewer: Reviewer) -> None:
    """State, who asked, under which policy version and rules, the full prompt and params."""
    client = reviewed.client("ada", "reviewed")
    video_id = _hold(client)
    shown = reviewer.show(video_id)
    assert shown["id"] == video_id
    assert shown["state"] == "pending"
    assert (shown["principal"], shown["tier"]) == ("ada", "reviewed")
    assert shown["client_id"].startswith("pgc_")
    assert len(shown["policy_version"]) == 64
    assert shown["rules"] == ["needs-review"]
    assert shown["prompt"] == HELD["prompt"]
    assert shown["params"] == {"seconds": "4"}
    assert shown["input_reference"] is None
    assert shown["request_id"]
    text = reviewer("show", video_id)
    assert text.returncode == 0
    assert HELD["prompt"] in text.stdout
    assert "needs-review" in text.stdout


def test_decisions_are_audited_with_the_reviewer_as_actor(
    reviewed: Gateway, reviewer: Reviewer
) -> None:
    """Approve and reject each write one admin event naming the reviewer, the review and
    what they said; the gateway's submission is recorded before and after it happens."""
    client = reviewed.client("ada", "reviewed")
    approved, rejected = _hold(client), _hold(client)
    assert reviewer("approve", approved, "--reviewer", "kim", "--note", "fine").returncode == 0
    result = reviewer(
        "reject", rejected, "--reviewer", "lee", "--reason", "too real", "--public-message", "No."
    )
    assert result.returncode == 0
    [approval] = reviewer.events("review_approved")
    assert (approval["actor"], approval["review_id"], approval["note"]) == ("kim", approved, "fine")
    assert (approval["principal"], approval["tier"]) == ("ada", "reviewed")
    [rejection] = reviewer.events("review_rejected")
    assert (rejection["actor"], rejection["review_id"]) == ("lee", rejected)
    assert (rejection["reason"], rejection["public_message"]) == ("too real", "No.")
    wait_status(client, approved, "completed")
    [submission] = reviewer.events("review_submission")
    assert (submission["review_id"], submission["reviewer"]) == (approved, "kim")
    [outcome] = reviewer.events("review_outcome")
    assert outcome["review_id"] == approved
    assert outcome["upstream_status"] == 200
    assert outcome["job_id"] == reviewer.show(approved)["upstream_job_id"]


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        (
            ["approve", "--reviewer", "kim"],
            ["approve", "--reviewer", "lee"],
            "already approved by kim",
        ),
        (
            ["approve", "--reviewer", "kim"],
            ["reject", "--reviewer", "lee", "--reason", "x"],
            "already approved by kim",
        ),
        (
            ["reject", "--reviewer", "kim", "--reason", "x"],
            ["approve", "--reviewer", "lee"],
            "already rejected by kim",
        ),
    ],
)
def test_deciding_a_decided_review_is_refused(
    reviewed: Gateway, reviewer: Reviewer, first: list[str], second: list[str], message: str
) -> None:
    """The second decision exits 1 naming the first, and changes nothing."""
    video_id = _hold(reviewed.client("ada", "reviewed"))
    assert reviewer(first[0], video_id, *first[1:]).returncode == 0
    refused = reviewer(second[0], video_id, *second[1:])
    assert refused.returncode == 1
    assert message in refused.stderr
    assert "Traceback" not in refused.stderr
    assert reviewer.show(video_id)["reviewer"] == "kim"


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["approve", "video_nope", "--reviewer", "kim"], 1, "no review 'video_nope'"),
        (["show", "video_nope"], 1, "no review 'video_nope'"),
        (["approve", "{id}", "--reviewer", "  "], 2, "reviewer must not be empty"),
        (["reject", "{id}", "--reviewer", "kim", "--reason", ""], 2, "reason must not be empty"),
        (["reject", "{id}", "--reviewer", "kim"], 2, "--reason"),
        (["approve", "{id}"], 2, "--reviewer"),
        (["show", "{id}", "--extract-reference", "{tmp}/ref.png"], 1, "no reference image"),
        (["frobnicate"], 2, "invalid choice"),
        (["list", "--store", "postgres://127.0.0.1:1/0"], 2, "--store: "),
        (["list", "--store", "redis://127.0.0.1:1/0"], 1, "the state store is unavailable"),
    ],
)
def test_refusals_and_usage_errors(
    reviewed: Gateway,
    reviewer: Reviewer,
    tmp_path: Path,
    args: list[str],
    status: int,
    message: str,
) -> None:
    """Unknown reviews and impossible requests exit 1, bad input exits 2; neither changes
    the review."""
    video_id = _hold(reviewed.client("ada", "reviewed"))
    filled = [a.format(id=video_id, tmp=tmp_path) for a in args]
    result = reviewer(*filled)
    assert result.returncode == status
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert reviewer.show(video_id)["state"] == "pending"
    assert not (tmp_path / "ref.png").exists()


def test_extraction_never_overwrites_a_file(
    reviewed: Gateway, reviewer: Reviewer, tmp_path: Path
) -> None:
    """The reference image goes to a new file only; an existing one is left alone."""
    client = reviewed.client("ada", "reviewed")
    response = client.post(
        "/v1/videos",
        data={"model": "sora-2", "prompt": "a lighthouse", "seconds": "4"},
        files={"input_reference": ("ref.png", b"\x89PNG" + b"x" * 500, "image/png")},
    )
    assert response.status_code == 202
    target = tmp_path / "mine.png"
    target.write_bytes(b"keep me")
    refused = reviewer("show", response.json()["id"], "--extract-reference", str(target))
    assert refused.returncode == 1
    assert "exists already" in refused.stderr
    assert target.read_bytes() == b"keep me"


def _at_once(*commands: list[str], reviewer: Reviewer) -> list[subprocess.CompletedProcess[str]]:
    results: list[subprocess.CompletedProcess[str] | None] = [None] * len(commands)
    start = threading.Barrier(len(commands))

    def act(index: int) -> None:
        start.wait()
        results[index] = reviewer(*commands[index])

    threads = [threading.Thread(target=act, args=(i,)) for i in range(len(commands))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [r for r in results if r is not None]


def test_two_reviewers_approving_at_once_one_wins(
    reviewed: Gateway, reviewer: Reviewer, mock_model: AppServer
) -> None:
    """Two approvals in two processes at once: one exits 0, the other 1 naming the winner;
    one approval event is recorded and the model gets one create."""
    client = reviewed.client("ada", "reviewed")
    httpx.delete(f"{mock_model.url}/_mock/requests").raise_for_status()
    video_id = _hold(client)
    results = _at_once(
        ["approve", video_id, "--reviewer", "kim"],
        ["approve", video_id, "--reviewer", "lee"],
        reviewer=reviewer,
    )
    assert sorted(r.returncode for r in results) == [0, 1]
    winner = reviewer.show(video_id)["reviewer"]
    [loser] = [r for r in results if r.returncode == 1]
    assert f"already approved by {winner}" in loser.stderr
    assert [e["actor"] for e in reviewer.events("review_approved")] == [winner]
    wait_status(client, video_id, "completed")
    sent = creations(mock_model.url)
    assert [entry["headers"]["idempotency-key"] for entry in sent] == [video_id], (
        f"the model got {len(sent)} creates for one approved review"
    )


def test_approve_and_reject_at_once_one_wins(reviewed: Gateway, reviewer: Reviewer) -> None:
    """An approval and a rejection racing: exactly one takes effect, and the job reads
    accordingly."""
    client = reviewed.client("ada", "reviewed")
    video_id = _hold(client)
    results = _at_once(
        ["approve", video_id, "--reviewer", "kim"],
        ["reject", video_id, "--reviewer", "lee", "--reason", "no"],
        reviewer=reviewer,
    )
    assert sorted(r.returncode for r in results) == [0, 1]
    approved = results[0].returncode == 0
    events = reviewer.events("review_approved") + reviewer.events("review_rejected")
    assert [e["event"] for e in events] == ["review_approved" if approved else "review_rejected"]
    final = wait_status(client, video_id, "completed" if approved else "failed")
    assert final["id"] == video_id
    assert video(client, video_id)["status"] == final["status"]
