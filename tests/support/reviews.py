"""The review queue in end-to-end tests: a gateway that holds requests, and its reviewers."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import run

REVIEW_POLICIES = Path(__file__).resolve().parent.parent / "fixtures" / "review_policies"
HELD = {"model": "sora-2", "prompt": "a street market, hold for review", "seconds": "4"}
PLAIN = {"model": "sora-2", "prompt": "a street market at dusk", "seconds": "4"}


class Reviewer:
    """`phasegate review …` as a reviewer runs it, against a gateway's state and audit."""

    def __init__(self, data_dir: Path, policies: Path = REVIEW_POLICIES) -> None:
        self.settings = ["--data-dir", str(data_dir), "--policies", str(policies)]
        self.audit_dir = data_dir / "audit"

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run("review", *args, *self.settings)

    def approve(self, video_id: str, reviewer: str = "kim") -> None:
        result = self("approve", video_id, "--reviewer", reviewer)
        assert result.returncode == 0, result.stderr

    def show(self, video_id: str) -> dict[str, Any]:
        result = self("show", video_id, "--json")
        assert result.returncode == 0, result.stderr
        document: dict[str, Any] = json.loads(result.stdout)
        return document

    def events(self, event: str) -> list[dict[str, Any]]:
        """The audit records of one event, from every segment in the log."""
        found = []
        for segment in sorted(self.audit_dir.glob("*.jsonl")):
            for line in segment.read_text().splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a torn last line of a segment still being written
                if record.get("event") == event:
                    found.append(record)
        return found


def wait_for(condition: Callable[[], Any], *, timeout: float = 10.0, what: str = "") -> Any:
    """Polls until `condition()` is truthy and returns it; fails the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what or condition}"
        time.sleep(0.05)


def video(client: httpx.Client, video_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/videos/{video_id}")
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def wait_status(client: httpx.Client, video_id: str, *statuses: str) -> dict[str, Any]:
    """Polls the client's video until it reads one of `statuses`; the video it read."""

    def reached() -> dict[str, Any] | None:
        document = video(client, video_id)
        return document if document["status"] in statuses else None

    found: dict[str, Any] = wait_for(reached, what=f"{video_id} to be {'/'.join(statuses)}")
    return found


def upstream_requests(mock_url: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = httpx.get(f"{mock_url}/_mock/requests").json()["data"]
    return seen


def creations(mock_url: str) -> list[dict[str, Any]]:
    """The create requests the mock model API received, with their headers as a dict."""
    return [
        {**entry, "headers": {str(k).lower(): str(v) for k, v in entry["headers"]}}
        for entry in upstream_requests(mock_url)
        if entry["method"] == "POST" and entry["path"] == "/v1/videos"
    ]
