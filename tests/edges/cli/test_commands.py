"""The phasegate command as a user runs it: real processes, real ports."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.support.processes import (
    POLICIES,
    access_token,
    grant_credential,
    process,
    run,
    stderr_of,
    wait_ready,
)
from tests.support.servers import free_port


def test_help_lists_the_commands() -> None:
    """`phasegate --help` exits 0 and names serve, demo and mock-model."""
    result = run("--help")
    assert result.returncode == 0
    for command in ("serve", "demo", "mock-model"):
        assert command in result.stdout


def test_unknown_command_is_a_usage_error() -> None:
    """An unknown subcommand exits 2."""
    assert run("fly").returncode == 2


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--upstream-timeout", "5x"], {}, "--upstream-timeout"),
        (["--port", "99999"], {}, "--port"),
        ([], {"PHASEGATE_MAX_BODY": "huge"}, "PHASEGATE_MAX_BODY (--max-body)"),
        (["--upstream", "not a url"], {}, "--upstream"),
        (["--workers", "4"], {}, "--workers"),
    ],
)
def test_serve_refuses_bad_settings_with_status_2(
    args: list[str], env: dict[str, str], named: str
) -> None:
    """A bad setting exits 2 before listening, with a message naming the option."""
    result = run("serve", *args, env=env)
    assert result.returncode == 2
    assert named in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_forwards_to_the_mock_model(tmp_path: Path) -> None:
    """`mock-model`, `serve` and `grant` work together as separate real processes."""
    mock_port, gateway_port = free_port(), free_port()
    settings = ["--data-dir", str(tmp_path), "--policies", str(POLICIES)]
    with (
        process("mock-model", "--port", str(mock_port), "--job-seconds", "0"),
        process(
            "serve",
            "--port",
            str(gateway_port),
            "--upstream",
            f"http://127.0.0.1:{mock_port}",
            "--upstream-key",
            "sk-process-secret",
            *settings,
        ) as gateway,
    ):
        base = f"http://127.0.0.1:{gateway_port}"
        wait_ready(f"http://127.0.0.1:{mock_port}/v1/videos")
        assert wait_ready(f"{base}/healthz").status_code == 200
        assert wait_ready(f"{base}/readyz").status_code == 200
        credential = grant_credential(settings, "alice", "invited_artists")
        token = access_token(base, credential)
        auth = {"Authorization": f"Bearer {token}"}
        created = httpx.post(f"{base}/v1/videos", json={"prompt": "a lighthouse"}, headers=auth)
        assert created.status_code == 200
        video = httpx.get(f"{base}/v1/videos/{created.json()['id']}", headers=auth).json()
        assert video["status"] == "completed"
    stderr = stderr_of(gateway)
    for secret in ("sk-process-secret", token, credential["client_secret"]):
        assert secret not in stderr
    assert '"path":"/v1/videos"' in stderr


def test_demo_credentials_issue_tokens(tmp_path: Path) -> None:
    """`phasegate demo` prints one credential per tier, and a printed one creates a video."""
    port = free_port()
    with process(
        "demo", "--port", str(port), "--policies", str(POLICIES), "--data-dir", str(tmp_path)
    ) as demo:
        base = f"http://127.0.0.1:{port}"
        assert wait_ready(f"{base}/readyz").status_code == 200
        assert demo.stdout is not None
        lines: list[str] = []
        while not any(line.startswith("Try it") for line in lines):
            lines.append(demo.stdout.readline())
        text = "".join(lines)
        _, _, client_id, secret = re.findall(
            r"^  (\w+)\s+(demo-\w+)\s+(pgc_\w+)\s+(pgs_\S+)$", text, re.M
        )[0]
        token = httpx.post(
            f"{base}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client_id, secret),
        ).json()["access_token"]
        created = httpx.post(
            f"{base}/v1/videos",
            json={"prompt": "a demo"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert created.status_code == 200
