from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from gateway.edges.http.app import create_app
from gateway.edges.settings import Settings
from gateway.mockmodel.app import create_mock_app
from tests.support.servers import AppServer

# Jobs finish quickly so lifecycle tests take well under a second each.
MOCK_JOB_SECONDS = 0.6


@pytest.fixture
def mock_model() -> Iterator[AppServer]:
    with AppServer(create_mock_app(job_seconds=MOCK_JOB_SECONDS)) as server:
        yield server


GatewayFactory = Callable[..., AppServer]


@pytest.fixture
def start_gateway(tmp_path: object) -> Iterator[GatewayFactory]:
    """Starts a real gateway on a loopback port in front of the given upstream URL."""
    with ExitStack() as stack:

        def start(upstream: str, **overrides: Any) -> AppServer:
            settings = dataclasses.replace(
                Settings(upstream=upstream, access_log=False), **overrides
            )
            return stack.enter_context(AppServer(create_app(settings)))

        yield start


@pytest.fixture
def gateway(mock_model: AppServer, start_gateway: GatewayFactory) -> AppServer:
    return start_gateway(mock_model.url)
