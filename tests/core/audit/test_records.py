from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from gateway.core.audit import records
from gateway.core.errors import AuditUnavailableError, PolicyViolation, RateLimited, TierNotInPhase
from gateway.core.limits.decide import LimitState
from gateway.core.policy.decision import Action, RuleHit
from gateway.core.policy.limits import LimitKind
from gateway.core.policy.request import InputReference, ReferenceSource
from gateway.core.review_state import Review, ReviewState

T = 1_795_000_000.25
SECRET_SHAPED = re.compile(r"token|secret|authorization|cookie|password|api_key", re.IGNORECASE)
DESIGN_FIELDS = {
    "schema",
    "event",
    "time",
    "request_id",
    "principal",
    "client_id",
    "tier",
    "phase",
    "route",
    "model",
    "prompt",
    "params",
    "decision",
    "rules",
    "policy_version",
}
HITS = (
    RuleHit("no-real-people", Action.DENY, shadow=False),
    RuleHit("weapons-watch", Action.FLAG, shadow=True),
)
LIMITS = (LimitState("requests", LimitKind.RATE, 30, 60.0, 29, 2.0),)
REVIEW = Review(
    video_id="video_1",
    state=ReviewState.APPROVED,
    principal="ada",
    client_id="cl-1",
    tier="studios",
    request_id="req-1",
    created_at=T,
    expires_at=T + 60,
    updated_at=T,
    reviewer="kim",
)


def _request(**overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "time": T,
        "request_id": "req-1",
        "principal": "ada",
        "client_id": "cl-1",
        "tier": "studios",
        "phase": "limited_preview",
        "client_address": "192.0.2.7",
        "method": "POST",
        "route": "/v1/videos",
        "model": "sora-2",
        "prompt": "a lighthouse at dawn",
        "params": {"seconds": 8, "size": "1280x720"},
        "input_reference": InputReference(size=1234, sha256="ab" * 32, content_type="image/png"),
        "decision": "flag",
        "rules": HITS,
        "policy_version": "pv-1",
        "limits": LIMITS,
    }
    return records.generation_request(**(arguments | overrides))


def _every_event() -> list[dict[str, Any]]:
    return [
        _request(),
        records.generation_outcome(
            time=T,
            request_id="req-1",
            principal="ada",
            client_id="cl-1",
            tier="studios",
            route="/v1/videos",
            decision="allow",
            upstream_status=200,
            job_id="video_1",
            latency_ms=12.5,
            request_bytes=100,
            response_bytes=300,
        ),
        records.refusal(
            time=T,
            request_id="req-2",
            principal=None,
            client_id=None,
            tier=None,
            phase="limited_preview",
            client_address="192.0.2.7",
            method="POST",
            route="/v1/videos",
            decision="refused",
            status=401,
            code="invalid_token",
        ),
        records.job_access(
            time=T,
            request_id="req-3",
            principal="ada",
            client_id="cl-1",
            tier="studios",
            client_address=None,
            method="GET",
            route="/v1/videos/video_1/content",
            action="download",
            job_id="video_1",
            status=200,
            upstream_status=200,
        ),
        records.grant(
            time=T, actor="admin", principal="ada", tier="studios", client_id="cl-1", expires_at=T
        ),
        records.revoke(time=T, actor="admin", principal="ada", revoked=2),
        records.phase_change(time=T, actor="admin", phase="ga", previous_phase=None),
        records.key_rotation(time=T, actor="admin", kid="k2", retiring={"k1": T + 900}),
        records.policy_reload(
            time=T,
            actor="sighup",
            outcome="rejected",
            policy_version=None,
            previous_policy_version="pv-1",
            errors=["rules.yaml:3: unknown action"],
        ),
        records.review_approved(time=T, actor="kim", review=REVIEW, note="fine"),
        records.review_rejected(
            time=T, actor="kim", review=REVIEW, reason="real person", public_message=None
        ),
        records.review_expired(time=T, actor="review-ttl", review=REVIEW),
        records.review_submission(time=T, actor="gateway", review=REVIEW, route="/v1/videos"),
        records.review_outcome(
            time=T, actor="gateway", review=REVIEW, upstream_status=200, job_id="v2", error=None
        ),
    ]


def test_review_events_name_the_review_and_who_asked() -> None:
    """Each review event carries the review id, the held request's id, principal and tier."""
    review_events = [r for r in _every_event() if r["event"].startswith("review_")]
    assert len(review_events) == 5
    for record in review_events:
        assert (record["review_id"], record["request_id"]) == ("video_1", "req-1")
        assert (record["principal"], record["tier"]) == ("ada", "studios")
    expired = next(r for r in review_events if r["event"] == "review_expired")
    assert expired["expires_at"] == records.format_time(T + 60)


def test_generation_request_has_every_design_field() -> None:
    """The write-ahead record carries every field DESIGN names for a request record."""
    record = _request()
    assert record.keys() >= DESIGN_FIELDS
    assert record["schema"] == records.SCHEMA_VERSION == 1
    assert record["event"] == "generation_request"
    assert record["time"] == "2026-11-18T11:06:40.250000Z"
    assert record["rules"] == [
        {"id": "no-real-people", "action": "deny", "shadow": False},
        {"id": "weapons-watch", "action": "flag", "shadow": True},
    ]
    assert record["input_reference"] == {
        "source": "file",
        "sha256": "ab" * 32,
        "size": 1234,
        "content_type": "image/png",
        "url": None,
        "file_id": None,
    }
    assert record["limits"][0]["remaining"] == 29


def test_outcome_carries_upstream_status_and_job_id() -> None:
    """The outcome record names the model's status and the job it created."""
    outcome = _every_event()[1]
    assert {"upstream_status", "job_id", "decision", "request_id"} <= outcome.keys()
    assert (outcome["upstream_status"], outcome["job_id"]) == (200, "video_1")


def test_unknown_values_are_null_not_missing() -> None:
    """A field that does not apply is present with null, so each event has fixed columns."""
    record = _request(input_reference=None, limits=None)
    assert record["input_reference"] is None
    assert record["limits"] is None
    assert record["review_id"] is None


@pytest.mark.parametrize(
    ("reference", "recorded"),
    [
        (
            InputReference(source=ReferenceSource.URL, url="https://images.example/cat.png"),
            {"source": "url", "url": "https://images.example/cat.png", "sha256": None},
        ),
        (
            InputReference(source=ReferenceSource.FILE_ID, file_id="file-abc123"),
            {"source": "file_id", "file_id": "file-abc123", "size": None},
        ),
        (
            InputReference(
                size=68,
                sha256="cd" * 32,
                content_type="image/webp",
                source=ReferenceSource.DATA_URL,
            ),
            {"source": "data_url", "sha256": "cd" * 32, "content_type": "image/webp", "url": None},
        ),
    ],
)
def test_each_reference_form_is_recorded_by_what_the_gateway_knows_of_it(
    reference: InputReference, recorded: dict[str, Any]
) -> None:
    """A URL and a file id are recorded as given, a data URL's image by digest and type."""
    record = _request(input_reference=reference)["input_reference"]
    assert record.items() >= recorded.items()
    assert set(record) == {"source", "sha256", "size", "content_type", "url", "file_id"}


def test_every_event_is_json_with_schema_event_and_time() -> None:
    """Each builder returns a JSON-serialisable dict with the common envelope."""
    for record in _every_event():
        assert orjson.loads(orjson.dumps(record)) == record
        assert record["schema"] == 1
        assert record["event"] in records.EVENTS
        assert record["time"].endswith("Z")


def test_no_field_is_secret_shaped() -> None:
    """No event has a field for a token, secret, Authorization header or cookie."""

    def keys(value: Any) -> set[str]:
        if isinstance(value, dict):
            return set(value) | {k for v in value.values() for k in keys(v)}
        if isinstance(value, list):
            return {k for v in value for k in keys(v)}
        return set()

    found = {key for record in _every_event() for key in keys(record) if SECRET_SHAPED.search(key)}
    assert found == set()


@pytest.mark.parametrize("decision", ["deny", "rate_limited", "refused", "maybe"])
def test_request_decision_must_be_a_forwarding_one(decision: str) -> None:
    """A write-ahead record only takes allow, flag or hold."""
    with pytest.raises(ValueError, match="decision"):
        _request(decision=decision)


def test_refusal_rejects_a_forwarding_decision() -> None:
    """A refusal only takes deny, rate_limited or refused."""
    with pytest.raises(ValueError, match="decision"):
        records.refusal(
            time=T,
            request_id="r",
            principal=None,
            client_id=None,
            tier=None,
            phase=None,
            client_address=None,
            method="POST",
            route="/v1/videos",
            decision="allow",
            status=403,
            code="policy_violation",
        )


def test_revoke_names_exactly_one_target() -> None:
    """A revocation record names one principal, client or token id, never several."""
    with pytest.raises(ValueError, match="exactly one"):
        records.revoke(time=T, actor="admin", principal="ada", client_id="cl-1", revoked=1)


def test_times_sort_in_time_order() -> None:
    """Formatted times have one fixed width, so string order is time order."""
    stamps = [records.format_time(t) for t in (0.0, 1.5, 999_999_999.0, T)]
    assert stamps == sorted(stamps)
    assert len({len(stamp) for stamp in stamps}) == 1


def test_a_refusal_is_named_by_its_cause() -> None:
    """A rule's deny, a limit, and everything else (bad token, phase, dependency down)."""
    assert records.refusal_decision(PolicyViolation("no")) == "deny"
    assert records.refusal_decision(RateLimited("slow down")) == "rate_limited"
    assert records.refusal_decision(TierNotInPhase("not yet")) == "refused"
    assert records.refusal_decision(AuditUnavailableError("disk")) == "refused"
