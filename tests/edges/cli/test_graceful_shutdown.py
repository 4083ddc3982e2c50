"""Stopping `phasegate serve`: drain on SIGTERM, finish what is in flight, lose nothing.

Real processes: the mock model API and gateways started as `phasegate …`, stopped with
real signals, and a client that routes by readiness as a load balancer does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.processes import (
    access_token,
    exit_status,
    grant_credential,
    process,
    run,
    serving,
    wait_ready,
)
from tests.support.redis_server import redis_server
from tests.support.servers import free_port

VIDEO = {"model": "sora-2", "prompt": "a lighthouse in fog", "seconds": "4"}
CONTENT_SIZE = 8 * 1024 * 1024


@contextlib.contextmanager
def _mock_model(*extra: str) -> Iterator[str]:
    port = free_port()
    with process("mock-model", "--port", str(port), "--job-seconds", "0", *extra):
        url = f"http://127.0.0.1:{port}"
        wait_ready(f"{url}/v1/videos")
        yield url


def test_sigterm_drains_then_finishes_a_download_in_flight(
    tmp_path: Path, unlimited_policies: Path
) -> None:
    """Unready at once, still serving during the drain delay, the stream completes, exit 0."""
    settings = ["--data-dir", str(tmp_path), "--policies", str(unlimited_policies)]
    with _mock_model("--content-size", "8MiB") as upstream:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        gateway = serving(port, upstream, settings, "--drain-delay", "1s")
        try:
            assert wait_ready(f"{url}/readyz").status_code == 200
            token = access_token(url, grant_credential(settings, "artist", "invited_artists"))
            auth = {"Authorization": f"Bearer {token}"}
            video = httpx.post(f"{url}/v1/videos", json=VIDEO, headers=auth).json()["id"]
            received = 0
            with httpx.stream("GET", f"{url}/v1/videos/{video}/content", headers=auth) as stream:
                assert stream.status_code == 200
                chunks = stream.iter_bytes(64 * 1024)
                received += len(next(chunks))
                gateway.send_signal(signal.SIGTERM)
                ready = httpx.get(f"{url}/readyz")
                assert (ready.status_code, ready.json()["status"]) == (503, "draining")
                # During the drain delay the replica still takes and answers requests.
                assert httpx.get(f"{url}/v1/videos", headers=auth).status_code == 200
                for chunk in chunks:
                    received += len(chunk)
                    time.sleep(0.02)  # a slow reader: the stream outlives the drain delay
            assert received == CONTENT_SIZE
            assert exit_status(gateway) == 0
        finally:
            if gateway.poll() is None:
                gateway.kill()
                exit_status(gateway)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/healthz")


def _until_ready(url: str) -> None:
    assert wait_ready(f"{url}/healthz").status_code == 200
    deadline = time.monotonic() + 15
    while httpx.get(f"{url}/readyz").status_code != 200:
        assert time.monotonic() < deadline, f"{url} never became ready"
        time.sleep(0.05)


class _ReadinessBalancer:
    """Sends each request to a replica whose last /readyz said ready, round robin, as a
    load balancer probing every 100 ms does."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.ready: set[str] = set(urls)
        self._turn = 0
        self._stop = threading.Event()
        self._prober = threading.Thread(target=self._probe, daemon=True)

    def __enter__(self) -> _ReadinessBalancer:
        self._prober.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._prober.join()

    def _probe(self) -> None:
        while not self._stop.wait(0.1):
            for url in self.urls:
                try:
                    ok = httpx.get(f"{url}/readyz", timeout=2).status_code == 200
                except httpx.TransportError:
                    ok = False
                (self.ready.add if ok else self.ready.discard)(url)

    async def back_in(self, url: str) -> None:
        """Returns once a probe has found the replica ready and it takes requests again."""
        deadline = time.monotonic() + 10
        while url not in self.ready:
            assert time.monotonic() < deadline, f"the balancer never took {url} back"
            await asyncio.sleep(0.02)

    async def pick(self) -> str:
        """A ready replica; with none ready (both probes slow, say), wait as a balancer
        holding the request would, rather than fail it."""
        deadline = time.monotonic() + 10
        while not (candidates := [url for url in self.urls if url in self.ready]):
            assert time.monotonic() < deadline, "no replica became ready again"
            await asyncio.sleep(0.05)
        self._turn += 1
        return candidates[self._turn % len(candidates)]


def test_a_rolling_restart_of_two_replicas_under_load_loses_no_request(
    tmp_path: Path, unlimited_policies: Path
) -> None:
    """Each replica in turn: SIGTERM, wait for its exit, start it again; meanwhile eight
    clients keep creating videos through the readiness-probing balancer."""
    settings = ["--data-dir", str(tmp_path), "--policies", str(unlimited_policies)]
    # Replicas behind one balancer share one issuer, so each accepts the others' tokens.
    replica_options = ("--drain-delay", "1s", "--issuer", "http://127.0.0.1")
    with _mock_model() as upstream:
        ports = [free_port(), free_port()]
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        replicas = [serving(port, upstream, settings, *replica_options) for port in ports]
        try:
            for url in urls:
                assert wait_ready(f"{url}/readyz").status_code == 200
            credential = grant_credential(settings, "artist", "invited_artists")
            token = access_token(urls[0], credential)
            outcomes: list[int | str] = []
            restarted = asyncio.Event()

            async def client(balancer: _ReadinessBalancer) -> None:
                async with httpx.AsyncClient(
                    headers={"Authorization": f"Bearer {token}"}, timeout=10
                ) as http:
                    while not restarted.is_set():
                        try:
                            response = await http.post(
                                f"{await balancer.pick()}/v1/videos", json=VIDEO
                            )
                            outcomes.append(response.status_code)
                        except httpx.TransportError as error:
                            outcomes.append(type(error).__name__)

            async def restart_each(balancer: _ReadinessBalancer) -> None:
                await asyncio.sleep(0.5)
                for index, port in enumerate(ports):
                    replicas[index].send_signal(signal.SIGTERM)
                    assert await asyncio.to_thread(exit_status, replicas[index]) == 0
                    replicas[index] = serving(port, upstream, settings, *replica_options)
                    await asyncio.to_thread(_until_ready, urls[index])
                    await balancer.back_in(urls[index])
                restarted.set()

            async def load() -> None:
                with _ReadinessBalancer(urls) as balancer:
                    await asyncio.gather(
                        restart_each(balancer), *(client(balancer) for _ in range(8))
                    )

            asyncio.run(load())
            failures = [outcome for outcome in outcomes if outcome != 200]
            assert failures == [], f"{len(failures)} of {len(outcomes)} requests failed"
            assert len(outcomes) > 100
        finally:
            for replica in replicas:
                if replica.poll() is None:
                    replica.send_signal(signal.SIGINT)
                exit_status(replica)


def _worker_pids(parent: int) -> list[int]:
    """The parent's children that are gateway workers (not multiprocessing's helpers)."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return [
        int(pid)
        for pid in children
        if "resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    ]


def test_workers_share_the_port_reload_on_sighup_and_stop_on_sigterm(
    tmp_path: Path, unlimited_policies: Path
) -> None:
    """`--workers 2` with limits in Redis: two processes answer on one port; SIGHUP makes
    both reload the policy; SIGTERM stops them all with status 0."""
    policies = tmp_path / "policies"
    policies.mkdir()
    for path in unlimited_policies.rglob("*"):
        if path.is_file():
            target = policies / path.relative_to(unlimited_policies)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    with redis_server() as redis, _mock_model() as upstream:
        settings = [
            "--data-dir",
            str(tmp_path / "data"),
            "--policies",
            str(policies),
            "--limits",
            f"redis://127.0.0.1:{redis.port}/0",
            "--policy-poll",
            "1h",  # only SIGHUP may reload here
        ]
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        gateway = serving(port, upstream, settings, "--workers", "2", "--drain-delay", "0s")
        try:
            assert wait_ready(f"{url}/readyz").status_code == 200
            deadline = time.monotonic() + 20
            while len(_worker_pids(gateway.pid)) < 2 or not all(
                httpx.get(f"{url}/readyz").status_code == 200 for _ in range(8)
            ):
                assert time.monotonic() < deadline, "two workers never became ready"
                time.sleep(0.1)
            workers = _worker_pids(gateway.pid)
            assert len(workers) == 2
            before = httpx.get(f"{url}/readyz").json()["policy"]["version"]

            # Whichever worker answers a scrape, it counts every worker's requests.
            admin = ["--data-dir", str(tmp_path / "data"), "--policies", str(policies)]
            token = access_token(url, grant_credential(admin, "artist", "invited_artists"))
            for _ in range(10):
                created = httpx.post(
                    f"{url}/v1/videos", json=VIDEO, headers={"Authorization": f"Bearer {token}"}
                )
                assert created.status_code == 200
            for _ in range(6):
                assert _generation_requests_counted(url) == 10

            rules = policies / "rules.yaml"
            rules.write_text(rules.read_text() + "\n# reviewed again\n")
            gateway.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            # Connections land on either worker: every answer must show the new version.
            while {httpx.get(f"{url}/readyz").json()["policy"]["version"] for _ in range(12)} != {
                after := _policy_version(policies)
            }:
                assert time.monotonic() < deadline, "a worker kept the old policy"
                time.sleep(0.1)
            assert after != before

            gateway.send_signal(signal.SIGTERM)
            assert exit_status(gateway) == 0
            assert all(not Path(f"/proc/{pid}").exists() for pid in workers)
        finally:
            if gateway.poll() is None:
                gateway.kill()
                exit_status(gateway)


def _generation_requests_counted(url: str) -> float:
    families = text_string_to_metric_families(httpx.get(f"{url}/metrics").text)
    return sum(
        sample.value
        for family in families
        for sample in family.samples
        if sample.name == "phasegate_requests_total" and sample.labels["decision"] == "allow"
    )


def _policy_version(policies: Path) -> str:
    checked = run("policy", "check", str(policies), "--json")
    assert checked.returncode == 0, checked.stderr
    version: str = json.loads(checked.stdout)["version"]
    return version


def test_workers_cannot_take_a_port_that_is_taken(tmp_path: Path) -> None:
    """A taken port is a clear error and exit 1, not a traceback."""
    with redis_server() as redis:
        port = free_port()
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", port))
            taken.listen()
            result = run(
                "serve",
                "--port",
                str(port),
                "--workers",
                "2",
                "--data-dir",
                str(tmp_path),
                "--limits",
                f"redis://127.0.0.1:{redis.port}/0",
            )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
