"""Every metric the gateway exports, declared once, on a registry of the app's own.

A registry per app (not prometheus_client's global one) keeps tests and several apps
in one process from counting into each other. Labels are low-cardinality by
construction: route kinds, tier and limit names from the policy, the six decisions,
status codes and dependency names; never a principal, client id, job id or raw path.

The request path records through labelled children cached per label tuple, so a
request pays a dict lookup and an increment, not prometheus_client's label checks.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.multiprocess import MultiProcessCollector

from gateway.core.policy import Policy

# prometheus_client picks file-backed values at import time when this is set: each
# worker process then writes its own files, and a scrape sums them up.
MULTIPROCESS_VARIABLE: Final = "PROMETHEUS_MULTIPROC_DIR"
DEPENDENCIES: Final = ("upstream", "store", "limits", "audit")
RELOAD_OUTCOMES: Final = ("accepted", "refused")
# A request the gateway never knew the caller of (no token, or one it refused).
NO_TIER: Final = "none"

# An fsynced, group-committed append takes about a millisecond; seconds mean trouble.
AUDIT_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
# Up to the default --upstream-timeout (60 s), which a slow model API may reach.
UPSTREAM_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_STATUS_CLASSES: Final = {hundreds: f"{hundreds}xx" for hundreds in range(1, 6)}


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROCESS_VARIABLE) or None


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.multiprocess = multiprocess_dir() is not None
        registry = self.registry
        self.requests = Counter(
            "phasegate_requests_total",
            "Proxied requests answered, by route kind, caller's tier, decision and status.",
            ("route", "tier", "decision", "status"),
            registry=registry,
        )
        self.in_flight = Gauge(
            "phasegate_requests_in_flight",
            "Proxied requests being handled now (streamed answers included).",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.limit_refusals = Counter(
            "phasegate_limit_refusals_total",
            "Generation requests refused with 429, by the limit that refused for longest.",
            ("limit",),
            registry=registry,
        )
        self.audit_writes = Histogram(
            "phasegate_audit_write_seconds",
            "Time until an audit record was durable (successful writes).",
            buckets=AUDIT_BUCKETS,
            registry=registry,
        )
        self.audit_failures = Counter(
            "phasegate_audit_write_failures_total",
            "Audit records the sink could not make durable.",
            registry=registry,
        )
        self.upstream = Histogram(
            "phasegate_upstream_request_seconds",
            "Time from sending a request to the model API to its answer's headers, by "
            "route kind and status class (timeout and error: no answer).",
            ("route", "status_class"),
            buckets=UPSTREAM_BUCKETS,
            registry=registry,
        )
        self.policy_reloads = Counter(
            "phasegate_policy_reloads_total",
            "Policy reloads, accepted (swapped in) or refused (invalid; the previous "
            "version keeps serving).",
            ("outcome",),
            registry=registry,
        )
        self.dependency_up = Gauge(
            "phasegate_dependency_up",
            "1 while a dependency works, 0 from a failure (or a failed readiness check) "
            "until it works again.",
            ("dependency",),
            registry=registry,
            # Across worker processes, down if any live worker finds it down.
            multiprocess_mode="livemin",
        )
        # Info metrics cannot be aggregated across processes (prometheus_client refuses).
        self.policy: Info | None = (
            None
            if self.multiprocess
            else Info("phasegate_policy", "The policy version in force.", registry=registry)
        )
        self._requests: dict[tuple[str, str, str, int], Counter] = {}
        self._refusals: dict[str, Counter] = {}
        self._upstream: dict[tuple[str, str], Histogram] = {}
        self._dependencies = {name: self.dependency_up.labels(name) for name in DEPENDENCIES}
        self._up: dict[str, bool] = {}
        self._before_scrape: list[Callable[[], None]] = []
        for name in DEPENDENCIES:
            # Up until something fails: nothing has been found wrong at start.
            self.dependency(name, up=True)
        for outcome in RELOAD_OUTCOMES:
            self.policy_reloads.labels(outcome)

    def request_answered(self, route: str, tier: str, decision: str, status: int) -> None:
        key = (route, tier, decision, status)
        child = self._requests.get(key)
        if child is None:
            child = self._requests[key] = self.requests.labels(route, tier, decision, str(status))
        child.inc()

    def limit_refused(self, limit: str) -> None:
        self._refusal(limit).inc()

    def _refusal(self, limit: str) -> Counter:
        child = self._refusals.get(limit)
        if child is None:
            child = self._refusals[limit] = self.limit_refusals.labels(limit)
        return child

    def upstream_answered(self, route: str, status_class: str, seconds: float) -> None:
        key = (route, status_class)
        child = self._upstream.get(key)
        if child is None:
            child = self._upstream[key] = self.upstream.labels(route, status_class)
        child.observe(seconds)

    def dependency(self, name: str, *, up: bool) -> None:
        # Set only on a change: the request path reports every success.
        if self._up.get(name) is not up:
            self._up[name] = up
            self._dependencies[name].set(1 if up else 0)

    def policy_in_force(self, policy: Policy) -> None:
        """Name the version, and show every limit it declares at 0 before any refusal."""
        if self.policy is not None:
            self.policy.info({"version": policy.version})
        for tier in policy.tiers.values():
            for limit in tier.limits:
                self._refusal(limit.name)

    def policy_reloaded(self, outcome: str, policy: Policy) -> None:
        self.policy_reloads.labels(outcome).inc()
        self.policy_in_force(policy)

    def before_scrape(self, hook: Callable[[], None]) -> None:
        """Run `hook` before each scrape: for states cheaper to read than to track."""
        self._before_scrape.append(hook)

    def scraped(self) -> CollectorRegistry:
        """The registry to expose now: this process's, or every worker's files summed."""
        for hook in self._before_scrape:
            hook()
        if not self.multiprocess:
            return self.registry
        combined = CollectorRegistry()
        MultiProcessCollector(combined)  # type: ignore[no-untyped-call]  # unannotated upstream
        return combined


def status_class(status: int) -> str:
    return _STATUS_CLASSES.get(status // 100, "other")
