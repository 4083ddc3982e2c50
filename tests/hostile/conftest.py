"""One real gateway (`phasegate serve` in front of the mock model API) for every hostile
case: the cases go through the same server, connection handling and app as production."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.processes import Deployment, deployment

# Short, so the cases that wait for it stay quick; the bound is the same code at 10 s.
HEADER_TIMEOUT = 1.0


@pytest.fixture(scope="package")
def hostile_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with deployment(
        tmp_path_factory.mktemp("hostile"), "--header-timeout", f"{HEADER_TIMEOUT:g}s"
    ) as target:
        yield target
