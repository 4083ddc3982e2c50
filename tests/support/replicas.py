"""Several `phasegate serve` processes in front of one mock model API, sharing state."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.processes import access_token, grant_credential, process, run, wait_ready
from tests.support.servers import free_port


@dataclass
class Replicas:
    """The replicas' URLs, and the settings an admin uses to reach their shared state."""

    urls: list[str]
    settings: list[str]

    def admin(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run(*args, *self.settings)

    def token(self, principal: str, tier: str) -> str:
        return access_token(self.urls[0], grant_credential(self.settings, principal, tier))

    @staticmethod
    def status(url: str, token: str, path: str = "/v1/videos") -> int:
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.get(f"{url}{path}", headers=headers, timeout=10).status_code


@contextmanager
def replicas(
    data_dir: Path,
    policies: Path,
    *serve_args: str,
    admin_args: tuple[str, ...] = (),
    count: int = 3,
    job_seconds: float = 30,
) -> Iterator[Replicas]:
    """`count` gateways started with `serve_args` (and `admin_args`, which the admin
    commands get too), all in front of one mock model API whose jobs take `job_seconds`."""
    with ExitStack() as stack:
        mock_port = free_port()
        stack.enter_context(
            process("mock-model", "--port", str(mock_port), "--job-seconds", str(job_seconds))
        )
        wait_ready(f"http://127.0.0.1:{mock_port}/v1/videos")
        settings = ["--data-dir", str(data_dir), "--policies", str(policies), *admin_args]
        urls = []
        for _ in range(count):
            port = free_port()
            stack.enter_context(
                process(
                    "serve",
                    "--port",
                    str(port),
                    "--upstream",
                    f"http://127.0.0.1:{mock_port}",
                    "--issuer",
                    "https://phasegate.test",
                    "--access-log",
                    "off",
                    *settings,
                    *serve_args,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        for url in urls:
            assert wait_ready(f"{url}/readyz").status_code == 200
        yield Replicas(urls, settings)
