"""The metric declarations: one registry per app, cached children, multiprocess mode."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from gateway.edges.policy_files import read_policy
from gateway.ports.metrics import GatewayMetrics
from gateway.ports.metrics.registry import status_class

ROOT = Path(__file__).resolve().parents[3]
POLICIES = ROOT / "policies"


def test_apps_in_one_process_count_apart() -> None:
    first, second = GatewayMetrics(), GatewayMetrics()
    first.request_answered("create_video", "studios", "allow", 200)
    first.request_answered("create_video", "studios", "allow", 200)
    second.request_answered("create_video", "studios", "allow", 200)
    labels = {"route": "create_video", "tier": "studios", "decision": "allow", "status": "200"}
    assert first.registry.get_sample_value("phasegate_requests_total", labels) == 2.0
    assert second.registry.get_sample_value("phasegate_requests_total", labels) == 1.0


def test_the_policy_in_force_names_its_version_and_every_limit() -> None:
    metrics = GatewayMetrics()
    policy = read_policy(POLICIES)
    metrics.policy_in_force(policy)
    info = metrics.registry.get_sample_value("phasegate_policy_info", {"version": policy.version})
    assert info == 1.0
    declared = {limit.name for tier in policy.tiers.values() for limit in tier.limits}
    assert declared
    for name in declared:
        value = metrics.registry.get_sample_value("phasegate_limit_refusals_total", {"limit": name})
        assert value == 0.0, name


def test_hooks_run_before_each_scrape() -> None:
    metrics = GatewayMetrics()
    healthy = [True]
    metrics.before_scrape(lambda: metrics.dependency("store", up=healthy[0]))
    healthy[0] = False
    registry = metrics.scraped()
    assert registry.get_sample_value("phasegate_dependency_up", {"dependency": "store"}) == 0.0


def test_status_classes() -> None:
    assert [status_class(s) for s in (101, 200, 302, 404, 599, 600)] == [
        "1xx",
        "2xx",
        "3xx",
        "4xx",
        "5xx",
        "other",
    ]


_WORKER = """
from gateway.ports.metrics import GatewayMetrics
metrics = GatewayMetrics()
metrics.request_answered("create_video", "studios", "allow", 200)
metrics.limit_refused("requests")
"""
_SCRAPE = """
from prometheus_client import generate_latest
from gateway.ports.metrics import GatewayMetrics
print(generate_latest(GatewayMetrics().scraped()).decode())
"""


def _python(code: str, multiproc_dir: Path) -> str:
    # A process of its own: prometheus_client chooses file-backed values at import time.
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir), "PATH": ""},
        timeout=60,
    )
    return result.stdout


def test_worker_processes_are_summed_in_multiprocess_mode(tmp_path: Path) -> None:
    """With PROMETHEUS_MULTIPROC_DIR set, each worker process writes its own files and a
    scrape from any of them sums every worker's counts."""
    for _ in range(2):
        _python(_WORKER, tmp_path)
    text = _python(_SCRAPE, tmp_path)
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    request = (
        ("decision", "allow"),
        ("route", "create_video"),
        ("status", "200"),
        ("tier", "studios"),
    )
    assert samples[("phasegate_requests_total", request)] == 2.0
    assert samples[("phasegate_limit_refusals_total", (("limit", "requests"),))] == 2.0
    assert not any(name == "phasegate_policy_info" for name, _ in samples)
