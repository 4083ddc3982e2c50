"""Audit record shapes: one builder per event, each returning a plain JSON-ready dict.

Every builder takes keyword-only arguments and returns every field of its event: a
value that is unknown or does not apply is `null`, never left out, so that each event
has one fixed set of columns (for `audit export --csv` and for readers of the schema in
docs/audit.md). Times are Unix seconds in, RFC 3339 UTC strings with microseconds out.

No builder has a parameter for a token, a client secret, an Authorization header or a
cookie: what reaches the log is only ever the identity the gateway derived from them.
The chain fields (`prev_hash`, `hash`) are added by the writer, see `chain.link`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from gateway.core.errors import GatewayError, PolicyViolation, RateLimited
from gateway.core.limits.decide import LimitState
from gateway.core.policy.decision import RuleHit
from gateway.core.policy.request import InputReference
from gateway.core.review_state import Review

SCHEMA_VERSION: Final = 1

Record = dict[str, Any]

# The decisions of the two request events; DESIGN names all six.
FORWARDED_DECISIONS: Final = frozenset({"allow", "flag", "hold"})
REFUSED_DECISIONS: Final = frozenset({"deny", "rate_limited", "refused"})


def refusal_decision(error: GatewayError) -> str:
    """deny, rate_limited or refused: why the gateway refused a request."""
    if isinstance(error, PolicyViolation):
        return "deny"
    if isinstance(error, RateLimited):
        return "rate_limited"
    return "refused"


JOB_ACTIONS: Final = frozenset({"read", "download", "delete", "list"})
POLICY_RELOAD_OUTCOMES: Final = frozenset({"loaded", "rejected"})

EVENTS: Final = (
    "generation_request",
    "generation_outcome",
    "refusal",
    "job_access",
    "passthrough",
    "grant",
    "revoke",
    "phase_change",
    "key_rotation",
    "policy_reload",
    "review_approved",
    "review_rejected",
    "review_expired",
    "review_submission",
    "review_outcome",
    "checkpoint",
)


def format_time(seconds: float) -> str:
    """Unix seconds as RFC 3339 UTC with microseconds, e.g. `2026-11-26T09:30:00.000000Z`.

    One fixed width, so the strings sort in time order.
    """
    stamp = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="microseconds")
    return stamp.removesuffix("+00:00") + "Z"


def _base(event: str, time: float) -> Record:
    return {"schema": SCHEMA_VERSION, "event": event, "time": format_time(time)}


def _rules(rules: Sequence[RuleHit]) -> list[dict[str, Any]]:
    return [{"id": hit.rule_id, "action": hit.action.label, "shadow": hit.shadow} for hit in rules]


def _limits(limits: Sequence[LimitState] | None) -> list[dict[str, Any]] | None:
    if limits is None:
        return None
    return [
        {
            "name": state.name,
            "kind": state.kind.value,
            "quota": state.quota,
            "window": state.window,
            "remaining": state.remaining,
            "reset_after": state.reset_after,
        }
        for state in limits
    ]


def _input_reference(reference: InputReference | None) -> dict[str, Any] | None:
    return None if reference is None else reference.described()


def _check(value: str, allowed: frozenset[str], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {sorted(allowed)}, not {value!r}")
    return value


def generation_request(
    *,
    time: float,
    request_id: str,
    principal: str,
    client_id: str,
    tier: str,
    phase: str | None,
    client_address: str | None,
    method: str,
    route: str,
    model: str | None,
    prompt: str | None,
    params: Mapping[str, Any],
    input_reference: InputReference | None = None,
    decision: str,
    rules: Sequence[RuleHit] = (),
    policy_version: str,
    limits: Sequence[LimitState] | None = None,
    review_id: str | None = None,
    moderation: Mapping[str, Any] | None = None,
) -> Record:
    """The write-ahead record of a generation request the gateway lets through or holds;
    written durably before the request is forwarded (or queued for review)."""
    return {
        **_base("generation_request", time),
        "request_id": request_id,
        "principal": principal,
        "client_id": client_id,
        "tier": tier,
        "phase": phase,
        "client_address": client_address,
        "method": method,
        "route": route,
        "model": model,
        "prompt": prompt,
        "params": dict(params),
        "input_reference": _input_reference(input_reference),
        "decision": _check(decision, FORWARDED_DECISIONS, "decision"),
        "rules": _rules(rules),
        "policy_version": policy_version,
        "limits": _limits(limits),
        "review_id": review_id,
        "moderation": None if moderation is None else dict(moderation),
    }


def generation_outcome(
    *,
    time: float,
    request_id: str,
    principal: str,
    client_id: str,
    tier: str,
    route: str,
    decision: str,
    upstream_status: int | None,
    job_id: str | None,
    latency_ms: float,
    request_bytes: int | None,
    response_bytes: int | None,
    error: str | None = None,
    review_id: str | None = None,
) -> Record:
    """What became of a generation request after its write-ahead record: the model API's
    answer (or the gateway's error code when it gave none), the job id and the cost."""
    return {
        **_base("generation_outcome", time),
        "request_id": request_id,
        "principal": principal,
        "client_id": client_id,
        "tier": tier,
        "route": route,
        "decision": _check(decision, FORWARDED_DECISIONS, "decision"),
        "upstream_status": upstream_status,
        "job_id": job_id,
        "latency_ms": latency_ms,
        "request_bytes": request_bytes,
        "response_bytes": response_bytes,
        "error": error,
        "review_id": review_id,
    }


def refusal(
    *,
    time: float,
    request_id: str,
    principal: str | None,
    client_id: str | None,
    tier: str | None,
    phase: str | None,
    client_address: str | None,
    method: str,
    route: str,
    model: str | None = None,
    prompt: str | None = None,
    params: Mapping[str, Any] | None = None,
    input_reference: InputReference | None = None,
    decision: str,
    status: int,
    code: str,
    rules: Sequence[RuleHit] = (),
    policy_version: str | None = None,
    limits: Sequence[LimitState] | None = None,
    latency_ms: float | None = None,
    moderation: Mapping[str, Any] | None = None,
) -> Record:
    """A generation request the gateway refused: denied by a rule, rate limited, or
    refused otherwise (tier not in phase, bad token, dependency down...)."""
    return {
        **_base("refusal", time),
        "request_id": request_id,
        "principal": principal,
        "client_id": client_id,
        "tier": tier,
        "phase": phase,
        "client_address": client_address,
        "method": method,
        "route": route,
        "model": model,
        "prompt": prompt,
        "params": None if params is None else dict(params),
        "input_reference": _input_reference(input_reference),
        "decision": _check(decision, REFUSED_DECISIONS, "decision"),
        "status": status,
        "code": code,
        "rules": _rules(rules),
        "policy_version": policy_version,
        "limits": _limits(limits),
        "latency_ms": latency_ms,
        "moderation": None if moderation is None else dict(moderation),
    }


def job_access(
    *,
    time: float,
    request_id: str,
    principal: str,
    client_id: str,
    tier: str,
    client_address: str | None,
    method: str,
    route: str,
    action: str,
    job_id: str | None,
    status: int,
    upstream_status: int | None,
    response_bytes: int | None = None,
    latency_ms: float | None = None,
) -> Record:
    """Who read, downloaded, deleted or listed which job, and what they got (404 for
    anyone but the job's owner)."""
    return {
        **_base("job_access", time),
        "request_id": request_id,
        "principal": principal,
        "client_id": client_id,
        "tier": tier,
        "client_address": client_address,
        "method": method,
        "route": route,
        "action": _check(action, JOB_ACTIONS, "action"),
        "job_id": job_id,
        "status": status,
        "upstream_status": upstream_status,
        "response_bytes": response_bytes,
        "latency_ms": latency_ms,
    }


def passthrough(
    *,
    time: float,
    request_id: str,
    principal: str,
    client_id: str,
    tier: str,
    phase: str | None,
    client_address: str | None,
    method: str,
    route: str,
    path: str,
    status: int,
    upstream_status: int | None,
    latency_ms: float | None = None,
) -> Record:
    """A request on a route the policy's `routes:` table lists, forwarded as it came."""
    return {
        **_base("passthrough", time),
        "request_id": request_id,
        "principal": principal,
        "client_id": client_id,
        "tier": tier,
        "phase": phase,
        "client_address": client_address,
        "method": method,
        "route": route,
        "path": path,
        "status": status,
        "upstream_status": upstream_status,
        "latency_ms": latency_ms,
    }


def grant(
    *,
    time: float,
    actor: str,
    principal: str,
    tier: str,
    client_id: str,
    expires_at: float | None,
) -> Record:
    """An admin granted a tier: a new client credential (its secret is never logged)."""
    return {
        **_base("grant", time),
        "actor": actor,
        "principal": principal,
        "tier": tier,
        "client_id": client_id,
        "expires_at": None if expires_at is None else format_time(expires_at),
    }


def revoke(
    *,
    time: float,
    actor: str,
    principal: str | None = None,
    client_id: str | None = None,
    jti: str | None = None,
    revoked: int,
) -> Record:
    """An admin revoked a principal's grants, one client, or one token (by its id)."""
    if (principal, client_id, jti).count(None) != 2:
        raise ValueError("a revocation names exactly one of principal, client_id, jti")
    return {
        **_base("revoke", time),
        "actor": actor,
        "principal": principal,
        "client_id": client_id,
        "jti": jti,
        "revoked": revoked,
    }


def phase_change(*, time: float, actor: str, phase: str, previous_phase: str | None) -> Record:
    """The rollout moved to another phase (for every gateway sharing the store)."""
    return {
        **_base("phase_change", time),
        "actor": actor,
        "phase": phase,
        "previous_phase": previous_phase,
    }


def key_rotation(
    *, time: float, actor: str, kid: str, retiring: Mapping[str, float] | None = None
) -> Record:
    """A new token signing key; the keys it replaces verify until their retirement time."""
    return {
        **_base("key_rotation", time),
        "actor": actor,
        "kid": kid,
        "retiring": [
            {"kid": old, "retire_at": format_time(at)}
            for old, at in sorted((retiring or {}).items())
        ],
    }


def policy_reload(
    *,
    time: float,
    actor: str,
    outcome: str,
    policy_version: str | None,
    previous_policy_version: str | None,
    errors: Sequence[str] = (),
) -> Record:
    """The policies were reloaded (`loaded`, now `policy_version`) or the new files were
    refused (`rejected`, with their `file:line` errors) and the previous version kept."""
    return {
        **_base("policy_reload", time),
        "actor": actor,
        "outcome": _check(outcome, POLICY_RELOAD_OUTCOMES, "outcome"),
        "policy_version": policy_version,
        "previous_policy_version": previous_policy_version,
        "errors": list(errors),
    }


def _review(event: str, time: float, actor: str, review: Review) -> Record:
    return {
        **_base(event, time),
        "actor": actor,
        "review_id": review.video_id,
        "request_id": review.request_id,
        "principal": review.principal,
        "tier": review.tier,
    }


def review_approved(*, time: float, actor: str, review: Review, note: str | None) -> Record:
    """A reviewer let a held request through; a gateway submits it to the model next."""
    return {**_review("review_approved", time, actor, review), "note": note}


def review_rejected(
    *, time: float, actor: str, review: Review, reason: str, public_message: str | None
) -> Record:
    """A reviewer turned a held request down: `reason` is for the record, `public_message`
    (null: a neutral default) is what the client reads."""
    return {
        **_review("review_rejected", time, actor, review),
        "reason": reason,
        "public_message": public_message,
    }


def review_expired(*, time: float, actor: str, review: Review) -> Record:
    """Nobody decided on a held request before it expired."""
    return {
        **_review("review_expired", time, actor, review),
        "expires_at": format_time(review.expires_at),
    }


def review_submission(*, time: float, actor: str, review: Review, route: str) -> Record:
    """The write-ahead record of an approved request: durable before the model sees it."""
    return {
        **_review("review_submission", time, actor, review),
        "reviewer": review.reviewer,
        "route": route,
    }


def review_outcome(
    *,
    time: float,
    actor: str,
    review: Review,
    upstream_status: int | None,
    job_id: str | None,
    error: str | None,
) -> Record:
    """What the model API answered to an approved request: its job id, or its refusal."""
    return {
        **_review("review_outcome", time, actor, review),
        "upstream_status": upstream_status,
        "job_id": job_id,
        "error": error,
    }
