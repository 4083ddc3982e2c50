"""`phasegate` as real processes: one-shot commands and long-running servers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import httpx

from tests.support.secrets_sweep import SWEEP
from tests.support.servers import free_port

PHASEGATE = [sys.executable, "-m", "gateway"]
POLICIES = Path(__file__).resolve().parent.parent.parent / "policies"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*PHASEGATE, *args],
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    SWEEP.add_process(args, result.stdout, result.stderr, env)
    return result


@contextmanager
def process(*args: str) -> Iterator[subprocess.Popen[str]]:
    # Standard error (where a gateway logs, a line per request) goes to a file: a pipe
    # that nobody reads while the test runs fills up, and the process stalls on its next
    # log line. Standard output stays a pipe, for tests that read it as it comes.
    with tempfile.TemporaryFile("w+") as errors:
        started = subprocess.Popen(
            [*PHASEGATE, *args], stdout=subprocess.PIPE, stderr=errors, text=True
        )
        try:
            yield started
        finally:
            started.send_signal(signal.SIGINT)
            try:
                stdout, _ = started.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                started.kill()
                stdout, _ = started.communicate()
            errors.seek(0)
            _STDERR[started.pid] = errors.read()
            # What a test read from stdout itself is gone; the rest is all there is.
            SWEEP.add_process(args, stdout, _STDERR[started.pid])


_STDERR: dict[int, str] = {}


def stderr_of(ended: subprocess.Popen[str]) -> str:
    """What a process started by `process()` wrote to standard error, once it ended."""
    return _STDERR[ended.pid]


def serving(port: int, upstream: str, settings: list[str], *extra: str) -> subprocess.Popen[str]:
    """`phasegate serve` for tests that send their own signals and read the exit status
    (end it with `exit_status`)."""
    # Not `process()`: the caller decides how the gateway stops. The output goes to a file,
    # not a pipe: a pipe nobody reads while the gateway logs every request fills up, and
    # the gateway stalls on its next log line.
    arguments = ["serve", "--port", str(port), "--upstream", upstream, *settings, *extra]
    output = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed by exit_status
    gateway = subprocess.Popen(
        [*PHASEGATE, *arguments], stdout=output, stderr=subprocess.STDOUT, text=True
    )
    _OUTPUTS[gateway.pid] = output
    return gateway


_OUTPUTS: dict[int, IO[str]] = {}


def exit_status(gateway: subprocess.Popen[str], timeout: float = 30) -> int:
    """Wait for the exit of a gateway started by `serving`; its output joins the secrets
    sweep like any process's."""
    gateway.wait(timeout=timeout)
    with _OUTPUTS.pop(gateway.pid) as output:
        output.seek(0)
        arguments = cast(list[str], gateway.args)  # serving passes a list of str
        SWEEP.add_process(arguments[len(PHASEGATE) :], output.read(), None)
    return gateway.returncode


def wait_ready(url: str, timeout: float = 15) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=1)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def grant_credential(settings: list[str], principal: str, tier: str) -> dict[str, Any]:
    """A credential made by `phasegate grant --json`, as an admin makes it."""
    result = run("grant", principal, "--tier", tier, "--json", *settings)
    assert result.returncode == 0, result.stderr
    credential: dict[str, Any] = json.loads(result.stdout)
    SWEEP.add_secret("client secret", credential["client_secret"])
    return credential


def access_token(gateway_url: str, credential: dict[str, Any]) -> str:
    """An access token for a credential, from the gateway's token endpoint."""
    response = httpx.post(
        f"{gateway_url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(credential["client_id"], credential["client_secret"]),
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    SWEEP.add_token(token)
    return token


@dataclass
class Deployment:
    """A mock model API and a gateway as separate processes sharing a data folder."""

    gateway_url: str
    settings: list[str]
    process: subprocess.Popen[str]

    def admin(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run(*args, *self.settings)

    def grant(self, principal: str, tier: str = "invited_artists") -> dict[str, Any]:
        return grant_credential(self.settings, principal, tier)

    def token(self, credential: dict[str, Any]) -> str:
        return access_token(self.gateway_url, credential)

    def status(self, token: str, path: str = "/v1/videos") -> int:
        return httpx.get(
            f"{self.gateway_url}{path}", headers={"Authorization": f"Bearer {token}"}
        ).status_code


@contextmanager
def deployment(data_dir: Path, *extra: str, policies: Path = POLICIES) -> Iterator[Deployment]:
    mock_port, gateway_port = free_port(), free_port()
    settings = ["--data-dir", str(data_dir), "--policies", str(policies)]
    with (
        process("mock-model", "--port", str(mock_port), "--job-seconds", "0"),
        process(
            "serve",
            "--port",
            str(gateway_port),
            "--upstream",
            f"http://127.0.0.1:{mock_port}",
            *settings,
            *extra,
        ) as gateway,
    ):
        wait_ready(f"http://127.0.0.1:{mock_port}/v1/videos")
        url = f"http://127.0.0.1:{gateway_port}"
        assert wait_ready(f"{url}/readyz").status_code == 200
        yield Deployment(url, settings, gateway)
