from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from gateway.ports.store import SqliteStore, Store


async def _sqlite(tmp_path: Path) -> Store:
    # A directory that does not exist yet, so every run also exercises creating it.
    return await SqliteStore.open(tmp_path / "state" / "store.db")


# Every adapter must pass the contract suite: a new one joins it with one entry here.
BACKENDS: dict[str, Callable[[Path], Awaitable[Store]]] = {"sqlite": _sqlite}


@pytest.fixture(params=sorted(BACKENDS))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    opened = await BACKENDS[request.param](tmp_path)
    yield opened
    await opened.close()
