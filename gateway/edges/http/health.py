"""Liveness and readiness probes; neither needs a token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.edges.policy_runtime import PolicyHolder
from gateway.edges.shared_state import SharedState
from gateway.ports.audit import AuditSink
from gateway.ports.limiter import Limiter
from gateway.ports.upstream import Upstream


class Draining:
    """Set once, when the process is asked to stop. From then on readiness fails, so a
    load balancer stops sending new requests while those in flight finish; liveness
    stays good, so nobody kills the process for draining."""

    def __init__(self) -> None:
        self._active = False

    @property
    def active(self) -> bool:
        return self._active

    def start(self) -> None:
        self._active = True


async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


def readiness(
    upstream: Upstream,
    state: SharedState,
    policies: PolicyHolder,
    limiter: Limiter,
    audit: AuditSink,
    *,
    draining: Draining,
) -> Callable[[Request], Awaitable[Response]]:
    """Ready when every dependency the gateway needs to forward a request answers; the body
    also names the rollout phase this process enforces, the policy version in force and
    how many reloads were accepted or refused."""

    async def readyz(_: Request) -> Response:
        if draining.active:
            return JSONResponse({"status": "draining"}, status_code=503)
        checks = {
            "upstream": "ok" if await upstream.reachable() else "unreachable",
            "store": "ok" if state.healthy else "unavailable",
            "limits": "ok" if await limiter.ping() else "unavailable",
            "audit": "ok" if await audit.healthy() else "unavailable",
        }
        ready = all(answer == "ok" for answer in checks.values())
        current = policies.current
        policy = {
            "version": current.version,
            "reloads_accepted": policies.reloads_accepted,
            "reloads_refused": policies.reloads_refused,
        }
        return JSONResponse(
            {
                "status": "ready" if ready else "unready",
                "checks": checks,
                # As this process sees it: a change made elsewhere shows here once it is served.
                "phase": current.current_phase(state.phase),
                "policy": policy,
            },
            status_code=200 if ready else 503,
        )

    return readyz
