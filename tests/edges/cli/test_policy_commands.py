"""`phasegate policy check`, `phasegate phase [set]`, and policy changes reaching a running
gateway in another process."""

from __future__ import annotations

import json
import shutil
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.support.processes import POLICIES, deployment, run

BROKEN = """version: 1
phases:
  - name: preview
    admit: [ghosts]
rules:
  - id: r1
    when: {prompt_regex: '(('}
    action: deny
"""


def test_policy_check_accepts_the_shipped_policies() -> None:
    """A valid folder exits 0 with a one-line summary naming its version."""
    result = run("policy", "check", str(POLICIES))
    assert result.returncode == 0
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    assert "valid" in lines[0]
    assert "3 phases" in lines[0]
    assert "version" in lines[0]


def test_policy_check_lists_every_error_with_file_and_line(tmp_path: Path) -> None:
    """An invalid folder exits 1 and prints each error as file:line: message."""
    (tmp_path / "rollout.yaml").write_text(BROKEN)
    result = run("policy", "check", str(tmp_path))
    assert result.returncode == 1
    path = tmp_path / "rollout.yaml"
    assert f"{path}:4: phase 'preview' admits unknown tier 'ghosts'" in result.stdout
    assert f"{path}:7: rule 'r1': when.prompt_regex does not compile" in result.stdout
    document = json.loads(run("policy", "check", str(tmp_path), "--json").stdout)
    assert document["valid"] is False
    assert [(e["line"]) for e in document["errors"]] == [4, 7]


def test_serve_refuses_an_invalid_policy_with_the_same_messages(tmp_path: Path) -> None:
    """`serve` does not start on an invalid policy and prints what `policy check` prints."""
    (tmp_path / "rollout.yaml").write_text(BROKEN)
    checked = run("policy", "check", str(tmp_path))
    served = run("serve", "--policies", str(tmp_path), "--port", "0")
    assert served.returncode == 1
    for line in checked.stdout.splitlines()[:-1]:
        assert line in served.stderr


def test_phase_show_and_set(tmp_path: Path) -> None:
    """`phase` shows the default until `phase set` moves it; unknown names are refused."""
    settings = ["--data-dir", str(tmp_path), "--policies", str(POLICIES)]
    shown = json.loads(run("phase", "--json", *settings).stdout)
    assert shown["phase"] == "research_preview"
    assert shown["source"] == "default_phase"
    refused = run("phase", "set", "beta", *settings)
    assert refused.returncode == 1
    assert "unknown phase 'beta'" in refused.stderr
    moved = run("phase", "set", "limited_preview", "--actor", "ops-lead", *settings)
    assert moved.returncode == 0
    shown = json.loads(run("phase", "--json", *settings).stdout)
    assert shown["phase"] == "limited_preview"
    assert shown["source"] == "set"
    assert [(c["phase"], c["actor"]) for c in shown["history"]] == [("limited_preview", "ops-lead")]


def test_phase_change_reaches_a_running_gateway_within_a_second(tmp_path: Path) -> None:
    """A studio refused in the research preview is admitted within 1 s of `phase set`."""
    with deployment(tmp_path) as target:
        token = target.token(target.grant("studio", "studios"))
        assert target.status(token) == 403
        assert target.admin("phase", "set", "limited_preview").returncode == 0
        # From the moment the command has made the change, not from its start-up.
        started = time.monotonic()
        while target.status(token) != 200:
            assert time.monotonic() - started < 1.0, "the phase change took over a second"
            time.sleep(0.01)


@pytest.mark.parametrize("trigger", ["sighup", "file change"])
def test_policy_reload_in_a_running_gateway(tmp_path: Path, trigger: str) -> None:
    """A new rule is enforced after SIGHUP (or, by polling, after the file changes)."""
    folder = tmp_path / "policies"
    shutil.copytree(POLICIES, folder)
    poll = "1h" if trigger == "sighup" else "100ms"
    with deployment(tmp_path / "data", "--policy-poll", poll, policies=folder) as target:
        token = target.token(target.grant("artist"))
        headers = {"Authorization": f"Bearer {token}"}
        body = {"model": "sora-2", "prompt": "a lighthouse at night", "seconds": "4"}

        def status() -> int:
            return httpx.post(
                f"{target.gateway_url}/v1/videos", json=body, headers=headers
            ).status_code

        assert status() == 200
        (folder / "extra.yaml").write_text(
            "rules:\n  - id: no-lighthouses\n    when: {prompt_matches_any: [lighthouse]}\n"
            "    action: deny\n"
        )
        if trigger == "sighup":
            time.sleep(0.3)
            assert status() == 200  # polling is off: nothing changes without the signal
            target.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 3
        while status() != 403:
            assert time.monotonic() < deadline, "the new rule was never enforced"
            time.sleep(0.05)
