"""`phasegate audit verify` and `audit tail` on the log a real `serve` process wrote."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.support.policies import without_limits
from tests.support.processes import POLICIES, deployment, run

VIDEO = {"model": "sora-2", "prompt": "a lighthouse in fog", "seconds": "4"}


def _serve_some_requests(data_dir: Path, count: int) -> None:
    policies = data_dir / "policies"
    if not policies.exists():
        without_limits(policies)
    with deployment(data_dir, policies=policies) as target:
        token = target.token(target.grant("artist"))
        for _ in range(count):
            response = httpx.post(
                f"{target.gateway_url}/v1/videos",
                json=VIDEO,
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 200


def test_verify_confirms_an_untouched_log_and_finds_a_modified_record(tmp_path: Path) -> None:
    """A sealed log verifies (exit 0); changing one prompt is reported at its line (exit 1)."""
    _serve_some_requests(tmp_path, 3)
    settings = ["--data-dir", str(tmp_path), "--policies", str(tmp_path / "policies")]
    verified = run("audit", "verify", *settings)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert ": ok," in verified.stdout
    assert "sealed" in verified.stdout

    segment = next(
        path
        for path in sorted((tmp_path / "audit").glob("audit-*.jsonl"))
        if '"generation_request"' in path.read_text()
    )
    lines = segment.read_text().splitlines()
    target = next(i for i, line in enumerate(lines) if '"generation_request"' in line)
    record = json.loads(lines[target])
    record["prompt"] = "something else entirely"
    lines[target] = json.dumps(record, separators=(",", ":"), sort_keys=True)
    segment.write_text("\n".join(lines) + "\n")

    tampered = run("audit", "verify", "--json", *settings)
    assert tampered.returncode == 1
    reports = [json.loads(line) for line in tampered.stdout.splitlines()]
    report = next(r for r in reports if r["segment"] == segment.name)
    assert report["ok"] is False
    assert [r["ok"] for r in reports].count(False) == 1
    assert report["problem"].startswith(f"line {target + 1}: modified")


def test_tail_prints_the_last_records(tmp_path: Path) -> None:
    """`audit tail` prints the newest records as JSON Lines, at most 20, across segments."""
    # Two runs of the gateway, two segments.
    _serve_some_requests(tmp_path, 8)
    _serve_some_requests(tmp_path, 8)
    settings = ["--data-dir", str(tmp_path), "--policies", str(tmp_path / "policies")]
    tail = run("audit", "tail", *settings)
    assert tail.returncode == 0
    records = [json.loads(line) for line in tail.stdout.splitlines()]
    assert len(records) == 20
    assert records[-1]["event"] == "checkpoint"
    assert {r["event"] for r in records} >= {"generation_request", "generation_outcome"}


def test_admin_changes_are_audited_and_verify(tmp_path: Path) -> None:
    """Grant, revoke, key rotation and phase change each leave a sealed, verifiable record."""
    settings = ["--data-dir", str(tmp_path), "--policies", str(POLICIES)]
    assert run("grant", "zed", "--tier", "studios", *settings).returncode == 0
    assert run("revoke", "zed", *settings).returncode == 0
    assert run("keys", "rotate", *settings).returncode == 0
    assert run("phase", "set", "limited_preview", "--actor", "ops-lead", *settings).returncode == 0
    verified = run("audit", "verify", *settings)
    assert verified.returncode == 0, verified.stdout
    records = [json.loads(line) for line in run("audit", "tail", *settings).stdout.splitlines()]
    events = [(r["event"], r.get("actor")) for r in records if r["event"] != "checkpoint"]
    assert [event for event, _ in events] == ["grant", "revoke", "key_rotation", "phase_change"]
    assert events[-1][1] == "ops-lead"
    phase = next(r for r in records if r["event"] == "phase_change")
    assert (phase["previous_phase"], phase["phase"]) == ("research_preview", "limited_preview")
    grant = next(r for r in records if r["event"] == "grant")
    assert "client_secret" not in grant
