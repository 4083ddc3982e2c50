"""The layers stay apart, as DESIGN.md draws them: a pure core, ports beside their
adapters, edges that never reach into each other, no import cycles.

Every rule is checked on the real package, and each one is shown to catch a module
written to break it, so that a rule which stopped seeing anything would fail here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import gateway
from tests.support.architecture import (
    Graph,
    Violation,
    core_does_no_io,
    core_imports_only_allowed,
    edges_never_import_each_other,
    import_cycles,
    mockmodel_is_independent,
    ports_never_import_edges,
)

PACKAGE = Path(gateway.__file__).parent
# The modules that start a process's edges and so wire them together: the app factory
# (the HTTP edge with the metrics endpoint, the review submitter and the lease reconciler
# beside it) and the `serve` command that runs it.
COMPOSITION_ROOTS = frozenset({"gateway.edges.http.app", "gateway.edges.cli.serve"})


@pytest.fixture(scope="module")
def real() -> Graph:
    return Graph.from_directory(PACKAGE, "gateway")


def fake(**modules: str) -> Graph:
    """A small package: keyword `a__b` is module `a.b`; `a__b__init` its package init."""
    sources: dict[str, tuple[bool, str]] = {}
    for key, text in modules.items():
        is_package = key.endswith("__init")
        name = key.removesuffix("__init").removesuffix("__").replace("__", ".")
        sources[name] = (is_package, text)
    return Graph.from_sources(sources)


def _lines(found: list[Violation]) -> list[str]:
    return [str(violation) for violation in found]


# --- on the real package --------------------------------------------------------------


def test_the_graph_sees_the_whole_package(real: Graph) -> None:
    """The rules below see every module (a graph that read nothing would pass them all)."""
    assert len(real.modules) == len(list(PACKAGE.rglob("*.py")))
    assert "gateway.core.generation_body" in real.modules
    assert any(
        i.target == "gateway.core.header_params"
        for i in real.modules["gateway.core.generation_body"].imports
    )


def test_core_imports_only_the_standard_library_without_io_and_pure_libraries(
    real: Graph,
) -> None:
    assert _lines(core_imports_only_allowed(real)) == []


def test_core_calls_nothing_that_does_io(real: Graph) -> None:
    assert _lines(core_does_no_io(real)) == []


def test_ports_never_import_edges(real: Graph) -> None:
    assert _lines(ports_never_import_edges(real)) == []


def test_the_mock_model_api_shares_no_code_with_the_gateway(real: Graph) -> None:
    assert _lines(mockmodel_is_independent(real)) == []


def test_the_mock_moderation_service_shares_no_code_with_the_gateway(real: Graph) -> None:
    assert "gateway.mockmoderation.app" in real.modules
    assert _lines(mockmodel_is_independent(real, mock_name="mockmoderation")) == []


def test_edges_never_import_each_other(real: Graph) -> None:
    assert _lines(edges_never_import_each_other(real, composition_roots=COMPOSITION_ROOTS)) == []


def test_no_import_cycles(real: Graph) -> None:
    assert import_cycles(real) == []


# --- each rule catches what it is for ---------------------------------------------------


def test_core_rule_refuses_a_client_library_and_unlisted_modules() -> None:
    graph = fake(
        gateway__core__clock="import time\n",
        gateway__core__fetch="import urllib.request\nfrom urllib.parse import quote\n",
        gateway__core__store="from redis.asyncio import Redis\n",
        gateway__core__edge="from gateway.edges.http import app\n",
        gateway__core__fine="import re\nfrom gateway.core import clock\n",
    )
    assert _lines(core_imports_only_allowed(graph)) == [
        "gateway.core.clock:1: imports time",
        "gateway.core.edge:1: imports gateway.edges.http",
        "gateway.core.fetch:1: imports urllib.request",
        "gateway.core.store:1: imports redis.asyncio",
    ]


def test_core_rule_resolves_relative_imports() -> None:
    """`from ...ports import x` in the core is an import of gateway.ports, caught as one."""
    graph = fake(
        gateway__core__policy__init="",
        gateway__core__policy__rules="from ...ports import store\nfrom . import words\n",
        gateway__core__policy__words="",
        gateway__ports__store="",
    )
    assert _lines(core_imports_only_allowed(graph)) == [
        "gateway.core.policy.rules:1: imports gateway.ports.store"
    ]


def test_core_rule_refuses_io_calls() -> None:
    graph = fake(
        gateway__core__reader=(
            "def read(path):\n"
            "    with open(path) as f:\n"
            "        return f.read()\n"
            "def load(path):\n"
            "    return path.read_text()\n"
            "def parse(text):\n"
            "    return text.split()\n"
        )
    )
    assert _lines(core_does_no_io(graph)) == [
        "gateway.core.reader:2: calls open()",
        "gateway.core.reader:5: calls .read_text()",
    ]


def test_ports_rule_refuses_an_edge_import() -> None:
    graph = fake(
        gateway__ports__store__redis="from gateway.edges.settings import Settings\n",
        gateway__ports__store__sqlite="from gateway.core import errors\n",
    )
    assert _lines(ports_never_import_edges(graph)) == [
        "gateway.ports.store.redis:1: imports gateway.edges.settings"
    ]


def test_mockmodel_rule_refuses_sharing_code_either_way() -> None:
    graph = fake(
        gateway__mockmodel__app="from gateway.core.jobs import video_in\n",
        gateway__mockmodel__jobs="from gateway.mockmodel import app\n",
        gateway__edges__http__proxy="from gateway.mockmodel.jobs import Job\n",
        gateway__edges__cli__mock_model="from gateway.mockmodel.app import create\n",
    )
    assert _lines(mockmodel_is_independent(graph)) == [
        "gateway.mockmodel.app:1: imports gateway.core.jobs",
        "gateway.edges.http.proxy:1: imports gateway.mockmodel.jobs",
    ]


def test_edges_rule_refuses_one_edge_reaching_into_another() -> None:
    graph = fake(
        gateway__edges__metrics__counter="from gateway.edges.http.pipeline import Exchange\n",
        gateway__edges__review__lookup="from ..http import body\n",
        gateway__edges__http__pipeline="from gateway.edges.http import body\n",
        gateway__edges__http__body="from gateway.edges.settings import Settings\n",
        gateway__edges__http__app="from gateway.edges.metrics import counter\n",
        gateway__edges__settings="from gateway.edges.cli import main\n",
        gateway__edges__cli__main="",
    )
    found = _lines(edges_never_import_each_other(graph, composition_roots=COMPOSITION_ROOTS))
    assert found == [
        "gateway.edges.metrics.counter:1: gateway.edges.metrics imports the edge "
        "gateway.edges.http (gateway.edges.http.pipeline)",
        "gateway.edges.review.lookup:1: gateway.edges.review imports the edge "
        "gateway.edges.http (gateway.edges.http.body)",
        "gateway.edges.settings:1: a shared edge module imports the edge "
        "gateway.edges.cli (gateway.edges.cli.main)",
    ]


def test_cycle_rule_finds_a_cycle_through_several_modules() -> None:
    graph = fake(
        gateway__a="from gateway import b\n",
        gateway__b="from gateway.c import thing\n",
        gateway__c="import gateway.a\n",
        gateway__d="from gateway import a\n",
        gateway__e="from gateway.e import itself\n",
    )
    assert import_cycles(graph) == [["gateway.a", "gateway.b", "gateway.c"], ["gateway.e"]]
