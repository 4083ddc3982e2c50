from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.core.identity import PhaseChange
from gateway.edges.http.app import create_app
from gateway.edges.policy_files import read_policy
from gateway.edges.settings import Settings
from gateway.mockmodel.app import create_mock_app
from tests.support import secrets_sweep
from tests.support.identity import Credential, access_token, grant
from tests.support.policies import without_limits
from tests.support.secrets_sweep import SWEEP
from tests.support.servers import AppServer
from tests.support.tokens import on_store

# Jobs finish quickly so lifecycle tests take well under a second each.
MOCK_JOB_SECONDS = 0.6
# Phase changes reach every gateway within a second; the margin is for a busy machine.
PHASE_CHANGE_DEADLINE = 5.0
POLICIES = Path(__file__).resolve().parent.parent / "policies"


def pytest_configure(config: pytest.Config) -> None:
    # Every run takes part in the secrets sweep: it records the secrets the tests use and
    # the log streams they produce, and fails the run if any stream carries one of them.
    # (Registered here, not by `pytest_plugins`: the helpers have imported it already.)
    config.pluginmanager.register(secrets_sweep, "secrets-sweep")


@pytest.fixture
def mock_model() -> Iterator[AppServer]:
    with AppServer(create_mock_app(job_seconds=MOCK_JOB_SECONDS)) as server:
        yield server


@dataclass
class Gateway:
    """A gateway serving on a loopback port, with the state file its admin would use."""

    server: AppServer
    settings: Settings
    resources: ExitStack

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def state_file(self) -> Path:
        return self.settings.data_dir / "state.db"

    def stop(self) -> None:
        """Stops serving and closes the store, audit files and upstream session, as a
        gateway that is shut down does; its state stays in the data folder."""
        self.server.stop()

    def grant(self, principal: str, tier: str = "invited_artists") -> Credential:
        tiers = frozenset(read_policy(self.settings.policies).tiers)
        return grant(self.state_file, principal, tier, known_tiers=tiers)

    def set_phase(self, name: str) -> None:
        """Moves the rollout, as `phasegate phase set` does, and waits until it is served."""
        change = PhaseChange(name, "tests", time.time())
        on_store(self.state_file, lambda store: store.set_phase(change))
        deadline = time.monotonic() + PHASE_CHANGE_DEADLINE
        while (served := self.served_phase()) != name:
            assert time.monotonic() < deadline, (
                f"the gateway still serves phase {served!r} {PHASE_CHANGE_DEADLINE:g}s "
                f"after the phase was set to {name!r}"
            )
            time.sleep(0.02)

    def served_phase(self) -> str:
        """The rollout phase the gateway enforces now, as its readiness document names it."""
        phase: str = httpx.get(f"{self.url}/readyz").json()["phase"]
        return phase

    def token(self, credential: Credential) -> str:
        return access_token(self.url, credential)

    def client(self, principal: str = "alice", tier: str = "invited_artists") -> httpx.Client:
        """An HTTP client holding a fresh access token of a newly granted principal."""
        token = self.token(self.grant(principal, tier))
        client = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"})
        self.resources.callback(client.close)
        return client


GatewayFactory = Callable[..., Gateway]


@pytest.fixture(scope="session")
def unlimited_policies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped policies without their limits: phases, tiers and rules as shipped."""
    return without_limits(tmp_path_factory.mktemp("policies") / "policies")


@pytest.fixture
def start_gateway(tmp_path: Path, unlimited_policies: Path) -> Iterator[GatewayFactory]:
    """Starts real gateways on loopback ports in front of the given upstream URL."""
    with ExitStack() as stack:

        def start(upstream: str, **overrides: Any) -> Gateway:
            settings = dataclasses.replace(
                Settings(
                    upstream=upstream,
                    access_log=False,
                    data_dir=tmp_path / "data",
                    policies=unlimited_policies,
                    issuer="https://phasegate.test",
                ),
                **overrides,
            )
            SWEEP.add_secret("upstream key", settings.upstream_key)
            SWEEP.add_secret("moderation key", settings.moderation_key)
            server = stack.enter_context(AppServer(create_app(settings)))
            return Gateway(server, settings, stack)

        yield start


@pytest.fixture
def gateway(mock_model: AppServer, start_gateway: GatewayFactory) -> Gateway:
    return start_gateway(mock_model.url)
