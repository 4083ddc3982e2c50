"""What token authentication costs per request, measured in process (no HTTP, no I/O).

Run from the repository root as `.venv/bin/python bench/verify_cost.py` (see
bench/README.md); `bench/run.py` runs it too and adds its numbers to its report.

Three measurements on a real ES256 key ring and a token issued the way the gateway's
token endpoint issues them:

- `verify`: `gateway.core.tokens.verify`, the full signature and claims check, which
  the gateway does on the first sight of a token;
- `cache_hit`: `token_digest` + `ClaimsCache.get` + `RevocationView.refusal`, what the
  authentication backend does on every later request with the same token;
- `backend`: `BearerTokenBackend.claims` end to end on a cached token, with a real
  `SharedState` whose store refuses any use, so the measurement proves it does no I/O.

Each is timed with `time.perf_counter_ns` over many calls after a warm-up, with the
garbage collector paused as `timeit` does, and the best of several repeats is kept
(the least disturbed by whatever else the machine was doing).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import platform
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, NoReturn, cast

from gateway.core.claims_cache import ClaimsCache, token_digest
from gateway.core.credentials import new_client_id, new_token_id
from gateway.core.identity import Grant, RevocationView
from gateway.core.keys import KeyRing, new_key
from gateway.core.tokens import AccessClaims, TokenRules, issue, verify
from gateway.edges.http.authentication import BearerTokenBackend
from gateway.edges.http.oauth.models import SCOPE
from gateway.edges.shared_state import SharedState
from gateway.ports.store import Store

DEFAULT_ITERATIONS: Final = 20_000
DEFAULT_REPEATS: Final = 5
# Calls made and thrown away before the repeats, so caches and branch predictors settle.
WARMUP_FRACTION: Final = 0.1
MIN_WARMUP: Final = 100

PRINCIPAL: Final = "bench"
TIER: Final = "invited_artists"
ISSUER: Final = "http://127.0.0.1:8080"
AUDIENCE: Final = "phasegate"
TOKEN_LIFETIME_S: Final = 7200.0

LABELS: Final = {
    "verify": "(a) verify(): ES256 signature + claims",
    "cache_hit": "(b) claims-cache hit: digest + get + revocation",
    "backend": "(c) BearerTokenBackend.claims, cached token",
}


class StoreUsed(Exception):
    """The measured path touched the state store, which would make it I/O."""


class NoStore:
    """Stands in for the state store and refuses every use."""

    def __getattr__(self, name: str) -> NoReturn:
        raise StoreUsed(f"the measured path used the state store ({name})")


@dataclass(frozen=True)
class Fixture:
    ring: KeyRing
    rules: TokenRules
    claims: AccessClaims
    revocations: RevocationView
    # A live credential: never printed nor written anywhere.
    token: str


def build_fixture(now: float) -> Fixture:
    ring = KeyRing.from_stored([new_key(now)], now)
    if ring.signing is None:
        raise RuntimeError("the new key ring has no signing key")
    rules = TokenRules(issuer=ISSUER, audience=AUDIENCE, lifetime=TOKEN_LIFETIME_S)
    client_id = new_client_id()
    issued = int(now)
    claims = AccessClaims(
        subject=PRINCIPAL,
        client_id=client_id,
        tier=TIER,
        scope=SCOPE,
        jti=new_token_id(),
        issued_at=issued,
        expires_at=issued + int(TOKEN_LIFETIME_S),
        key_id=ring.signing.kid,
    )
    token = issue(claims, ring.signing, rules)
    grant = Grant(PRINCIPAL, TIER, client_id, secret_hash="", created_at=now)
    revocations = RevocationView({client_id: grant}, frozenset(), revision=1)
    return Fixture(ring, rules, claims, revocations, token)


def best_ns_per_call(call: Callable[[], object], iterations: int, repeats: int) -> float:
    """The best, over `repeats`, of the mean time of one call in a run of `iterations`."""
    for _ in range(max(MIN_WARMUP, int(iterations * WARMUP_FRACTION))):
        call()
    loop = range(iterations)
    best = float("inf")
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            started = time.perf_counter_ns()
            for _ in loop:
                call()
            best = min(best, (time.perf_counter_ns() - started) / iterations)
    finally:
        if gc_was_enabled:
            gc.enable()
    return best


async def best_ns_per_await(
    call: Callable[[], Awaitable[object]], iterations: int, repeats: int
) -> float:
    """As `best_ns_per_call`, for a coroutine awaited inside a running event loop."""
    for _ in range(max(MIN_WARMUP, int(iterations * WARMUP_FRACTION))):
        await call()
    loop = range(iterations)
    best = float("inf")
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            started = time.perf_counter_ns()
            for _ in loop:
                await call()
            best = min(best, (time.perf_counter_ns() - started) / iterations)
    finally:
        if gc_was_enabled:
            gc.enable()
    return best


def measure_verify(fixture: Fixture, iterations: int, repeats: int) -> float:
    token, ring, rules = fixture.token, fixture.ring, fixture.rules
    if verify(token, ring, rules) != fixture.claims:
        raise RuntimeError("verify() did not return the issued claims")
    return best_ns_per_call(lambda: verify(token, ring, rules), iterations, repeats)


def measure_cache_hit(fixture: Fixture, iterations: int, repeats: int) -> float:
    token, revocations = fixture.token, fixture.revocations
    cache = ClaimsCache()
    cache.put(token_digest(token), fixture.claims)
    now = time.time()

    def cache_hit() -> str | None:
        claims = cache.get(token_digest(token), now)
        if claims is None:
            raise RuntimeError("the claims cache missed")
        return revocations.refusal(claims.client_id, claims.subject, claims.jti, now)

    if cache_hit() is not None:
        raise RuntimeError("the revocation view refused the benchmark token")
    return best_ns_per_call(cache_hit, iterations, repeats)


async def measure_backend(fixture: Fixture, iterations: int, repeats: int) -> float:
    state = SharedState(cast(Store, NoStore()), time.time)
    state.keys = fixture.ring
    state.revocations = fixture.revocations
    backend = BearerTokenBackend(state, fixture.rules, time.time, ClaimsCache())
    token = fixture.token
    # The first call verifies and fills the cache; every timed call is a cache hit.
    if await backend.claims(token) != fixture.claims:
        raise RuntimeError("BearerTokenBackend.claims did not return the issued claims")
    return await best_ns_per_await(lambda: backend.claims(token), iterations, repeats)


def measure(iterations: int = DEFAULT_ITERATIONS, repeats: int = DEFAULT_REPEATS) -> dict[str, Any]:
    """Every measurement, as a JSON-ready document (which never contains the token)."""
    fixture = build_fixture(time.time())
    ns = {
        "verify": measure_verify(fixture, iterations, repeats),
        "cache_hit": measure_cache_hit(fixture, iterations, repeats),
        "backend": asyncio.run(measure_backend(fixture, iterations, repeats)),
    }
    # The loop and call overhead included in every figure above.
    ns_empty = best_ns_per_call(lambda: None, iterations, repeats)
    measurements = {
        name: {"label": LABELS[name], "us_per_call": round(value / 1000, 3)}
        for name, value in ns.items()
    }
    return {
        "iterations": iterations,
        "repeats": repeats,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "token_bytes": len(fixture.token),
        "measurements": measurements,
        "call_overhead_us": round(ns_empty / 1000, 3),
        "ratio_verify_to_cache_hit": round(ns["verify"] / ns["cache_hit"], 1),
        "ratio_verify_to_backend": round(ns["verify"] / ns["backend"], 1),
    }


def render(result: dict[str, Any]) -> str:
    measurements: dict[str, dict[str, Any]] = result["measurements"]
    width = max(len(m["label"]) for m in measurements.values())
    lines = [
        f"token authentication cost per request, in process (Python {result['python']}; "
        f"best of {result['repeats']} x {result['iterations']} calls)"
    ]
    lines += [
        f"  {m['label'].ljust(width)}  {m['us_per_call']:9.2f} us/call"
        for m in measurements.values()
    ]
    lines.append(
        f"  {'call overhead included in each'.ljust(width)}  "
        f"{result['call_overhead_us']:9.2f} us/call"
    )
    lines.append(
        f"  (a)/(b): {result['ratio_verify_to_cache_hit']:.1f}x    "
        f"(a)/(c): {result['ratio_verify_to_backend']:.1f}x"
    )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure the per-request cost of token authentication in process."
    )
    parser.add_argument(
        "--iterations",
        type=int,
        default=DEFAULT_ITERATIONS,
        metavar="N",
        help=f"calls timed per repeat (default {DEFAULT_ITERATIONS})",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=DEFAULT_REPEATS,
        metavar="N",
        help=f"repeats; the best is kept (default {DEFAULT_REPEATS})",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON document")
    args = parser.parse_args(argv)
    if args.iterations < 1 or args.repeats < 1:
        parser.error("--iterations and --repeats must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = measure(args.iterations, args.repeats)
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
