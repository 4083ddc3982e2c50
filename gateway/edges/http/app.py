"""The app factory: picks the adapters from the settings and wires the request path once."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.routing import Route

from gateway.core.audit.chain import Signer, es256_signer
from gateway.core.lease_reconciliation import ReconcileConfig
from gateway.core.tokens import TokenRules
from gateway.edges.http.asgi import ASGIApp, Receive, Scope, Send
from gateway.edges.http.authentication import BearerTokenBackend, refusal_response
from gateway.edges.http.body_deadline import BodyDeadline
from gateway.edges.http.forwarding import Forwarder
from gateway.edges.http.header_check import HeaderCheck
from gateway.edges.http.health import Draining, healthz, readiness
from gateway.edges.http.oauth.routes import OAuthEndpoints
from gateway.edges.http.openapi import openapi_route
from gateway.edges.http.pipeline import Pipeline
from gateway.edges.http.proxy import ReverseProxy
from gateway.edges.http.request_identity import RequestIdentity
from gateway.edges.http.request_metrics import RequestCounter
from gateway.edges.http.steps.admission import PhaseAdmission
from gateway.edges.http.steps.audit_trail import AuditTrail
from gateway.edges.http.steps.caller import RequireCaller
from gateway.edges.http.steps.generation_request import ReadGenerationRequest
from gateway.edges.http.steps.idempotency import Idempotency
from gateway.edges.http.steps.limits import RateLimits
from gateway.edges.http.steps.moderation import ModerationVerdict
from gateway.edges.http.steps.ownership import JobOwnership
from gateway.edges.http.steps.reviewed_jobs import ReviewedJobs
from gateway.edges.http.steps.routing import ListedRoutes
from gateway.edges.http.steps.usage_policy import HoldForReview, UsagePolicy
from gateway.edges.leases.reconciler import LeaseReconciler, reconciling
from gateway.edges.metrics import metrics_routes, serving_metrics
from gateway.edges.policy_files import read_policy
from gateway.edges.policy_runtime import PolicyHolder, watching_policy
from gateway.edges.review.submitter import ReviewSubmitter, submitting
from gateway.edges.settings import Settings
from gateway.edges.shared_state import SharedState, watching
from gateway.ports.audit import AuditSink, AuditUnavailable, open_audit_sink
from gateway.ports.leases.release import LeaseRelease
from gateway.ports.limiter import open_limiter
from gateway.ports.metrics import GatewayMetrics, MeteredAuditSink, MeteredLimiter, MeteredUpstream
from gateway.ports.moderation import CachedModerator
from gateway.ports.moderation.aiohttp_client import AiohttpModerator
from gateway.ports.review.lookup import ReviewLookup
from gateway.ports.review.settlement import Settlement
from gateway.ports.store import Store, open_store
from gateway.ports.upstream import Upstream
from gateway.ports.upstream.aiohttp_client import AiohttpUpstream, UpstreamConfig

_log = structlog.get_logger("phasegate.audit")


def build_upstream(settings: Settings) -> Upstream:
    return AiohttpUpstream(
        UpstreamConfig(
            base_url=settings.upstream,
            connect_timeout=settings.upstream_connect_timeout,
            read_timeout=settings.upstream_timeout,
        )
    )


def current_key_signer(state: SharedState) -> Signer:
    """Signs audit checkpoints with whichever key signs tokens at that moment."""

    def sign(data: bytes) -> tuple[str, bytes]:
        key = state.keys.signing
        if key is None:
            raise RuntimeError("no signing key is loaded")
        return es256_signer(key.kid, key.private)(data)

    return sign


def audit_recorder(sink: AuditSink) -> Callable[[dict[str, Any]], Awaitable[None]]:
    """Appends an event the gateway itself causes (a policy reload); a failure is logged."""

    async def record(event: dict[str, Any]) -> None:
        try:
            await sink.append(event)
        except AuditUnavailable:
            _log.error("audit_record_lost", record_event=event["event"])

    return record


def token_rules(settings: Settings) -> TokenRules:
    return TokenRules(
        issuer=settings.issuer_url, audience=settings.audience, lifetime=settings.token_ttl
    )


def create_app(
    settings: Settings,
    *,
    upstream: Upstream | None = None,
    store: Store | None = None,
    audit_sink: AuditSink | None = None,
    clock: Callable[[], float] = time.time,
    review_poll: float = 0.5,
) -> GatewayApp:
    model_api = upstream if upstream is not None else build_upstream(settings)
    state_store = store if store is not None else open_store(settings.store_url)
    limiter = open_limiter(settings.limits_url)
    state = SharedState(state_store, clock)
    if audit_sink is None:
        audit_sink = open_audit_sink(settings.audit_url, signer=current_key_signer(state))
    # Every user of a port goes through its metered wrapper, created once here.
    metrics = GatewayMetrics()
    model_api, limiter = MeteredUpstream(model_api, metrics), MeteredLimiter(limiter, metrics)
    audit_sink = MeteredAuditSink(audit_sink, metrics)
    metrics.before_scrape(lambda: metrics.dependency("store", up=state.healthy))
    rules = token_rules(settings)
    forwarder = Forwarder(model_api, settings.upstream_key)
    moderator = CachedModerator(AiohttpModerator(settings.moderation_key))
    audit_trail = AuditTrail(audit_sink, clock)
    policies = PolicyHolder(
        settings.policies,
        read_policy(settings.policies),
        audit=audit_recorder(audit_sink),
        on_reload=metrics.policy_reloaded,
        clock=clock,
    )
    metrics.policy_in_force(policies.current)
    settlement = Settlement(state_store, limiter, audit_recorder(audit_sink), clock)
    reviews = ReviewLookup(state_store, settlement, clock)
    submitter = ReviewSubmitter(
        state_store,
        model_api,
        settlement,
        audit=audit_sink,
        record=audit_recorder(audit_sink),
        clock=clock,
        credential=forwarder.credential,
        # As long as one submission may take; should a live claim still be taken over,
        # the model answers the second send with the first one's job (same key).
        claim_seconds=settings.upstream_connect_timeout + settings.upstream_timeout + 1.0,
        interval=review_poll,
    )
    leases = LeaseRelease(state_store, limiter)
    reconciler = LeaseReconciler(
        state_store,
        model_api,
        leases,
        reviews,
        config=ReconcileConfig(settings.reconcile_after),
        clock=clock,
        credential=forwarder.credential,
    )
    pipeline = Pipeline(
        [
            RequireCaller(),
            PhaseAdmission(policies, state),
            ListedRoutes(),
            JobOwnership(state_store, forwarder, clock, reviews, leases),
            ReviewedJobs(reviews),
            ReadGenerationRequest(max_reference=settings.max_reference),
            Idempotency(state_store, clock),
            UsagePolicy(moderator=moderator),
            RateLimits(
                limiter,
                leases,
                forwarder,
                lease_ttl=settings.lease_ttl,
                review_ttl=settings.review_ttl,
                reconcile_after=settings.reconcile_after,
            ),
            # After the limits: the classifier, called by UsagePolicy, answers meanwhile.
            ModerationVerdict(),
            audit_trail,
            HoldForReview(state_store, clock, review_ttl=settings.review_ttl),
        ]
    )
    proxy = RequestIdentity(
        BodyDeadline(
            HeaderCheck(
                AuthenticationMiddleware(
                    ReverseProxy(
                        forwarder,
                        pipeline,
                        max_body=settings.max_body,
                        trusted_proxies=settings.trusted_proxies,
                        upstream_url=settings.upstream,
                        public_url=settings.issuer_url,
                    ),
                    backend=BearerTokenBackend(state, rules, clock),
                    on_error=refusal_response,
                )
            ),
            timeout=settings.body_timeout,
        ),
        access_log=settings.access_log,
        observer=RequestCounter(metrics),
    )
    oauth = OAuthEndpoints(state, rules, clock)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            async with (
                serving_metrics(metrics, settings.host, settings.metrics_port),
                watching(state),
                watching_policy(policies, settings.policy_poll),
            ):
                try:
                    async with submitting(submitter), reconciling(reconciler):
                        yield
                finally:
                    # Closing seals the current segment with a checkpoint signed by the
                    # gateway's key, so it must happen while the keys are still loaded.
                    await audit_trail.drain()
                    await audit_sink.close()
        finally:
            await model_api.close()
            await moderator.close()
            await limiter.close()
            await state_store.close()

    draining = Draining()
    own_routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route(
            "/readyz",
            readiness(model_api, state, policies, limiter, audit_sink, draining=draining),
            methods=["GET"],
        ),
        *oauth.routes(),
        openapi_route(),
        *metrics_routes(metrics, own_port=settings.metrics_port is not None),
    ]
    own = Starlette(
        routes=own_routes,
        middleware=[
            Middleware(RequestIdentity, access_log=settings.access_log),
            Middleware(BodyDeadline, timeout=settings.body_timeout),
        ],
        lifespan=lifespan,
    )
    return GatewayApp(own, proxy, frozenset(route.path for route in own_routes), draining)


class GatewayApp:
    """The gateway's own routes go to Starlette; everything else belongs to the model API.

    The split is one set lookup, so proxied requests skip Starlette's router and its
    error middleware: they have their own pure-ASGI stack with the same request ids.
    """

    def __init__(
        self, own: Starlette, proxy: ASGIApp, own_paths: frozenset[str], draining: Draining
    ) -> None:
        self.own = own
        self.proxy = proxy
        self.own_paths = own_paths
        # Started by the server on SIGTERM: /readyz fails from then on.
        self.draining = draining

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in self.own_paths:
            await self.proxy(scope, receive, send)
        else:
            await self.own(scope, receive, send)
