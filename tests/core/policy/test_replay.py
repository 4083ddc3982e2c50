"""The replay tally: which records are replayed, what they become, in bounded memory."""

from __future__ import annotations

from typing import Any

from gateway.core.audit import records
from gateway.core.policy import Action, Policy
from gateway.core.policy.moderation import ModerationScores, moderation_record
from gateway.core.policy.replay import Replay, replayable
from tests.core.policy.support import load, y

CURRENT = y(
    "rules:",
    "  - {id: figures, when: {prompt_matches_any: {list: figures}}, action: deny, tiers: [public]}",
    "lists: {figures: lists/figures.txt}",
)
NEW = y(
    "rules:",
    "  - {id: figures, when: {prompt_matches_any: {list: figures}}, action: deny}",
    "  - {id: long, when: {param: seconds, gt: 4}, action: hold}",
    "  - id: gore",
    "    when: {moderation: {category: violence/graphic, ge: 0.5}}",
    "    action: deny",
    "lists: {figures: lists/figures.txt}",
    "moderation: {url: 'http://127.0.0.1:9/m', timeout: 1s, on_error: hold}",
)


def policies() -> tuple[Policy, Policy]:
    return load({"rules.yaml": CURRENT}), load({"rules.yaml": NEW})


def request(
    n: int, prompt: str, tier: str = "artists", seconds: str = "4", **extra: Any
) -> dict[str, Any]:
    return records.generation_request(
        time=1_800_000_000.0 + n,
        request_id=f"req-{n}",
        principal="p",
        client_id="c",
        tier=tier,
        phase="open",
        client_address=None,
        method="POST",
        route="/v1/videos",
        model="sora-2",
        prompt=prompt,
        params={"seconds": seconds},
        decision="allow",
        policy_version="v",
        **extra,
    )


def refusal(n: int, decision: str, code: str, prompt: str | None = "the pope") -> dict[str, Any]:
    return records.refusal(
        time=1_800_000_000.0 + n,
        request_id=f"ref-{n}",
        principal="p",
        client_id="c",
        tier="public",
        phase="open",
        client_address=None,
        method="POST",
        route="/v1/videos",
        model="sora-2",
        prompt=prompt,
        params={"seconds": "4"},
        decision=decision,
        status=403,
        code=code,
    )


def test_only_requests_judged_by_the_policy_are_replayed() -> None:
    assert replayable(request(1, "a kite"))
    assert replayable(refusal(2, "deny", "policy_violation"))
    assert replayable(refusal(3, "refused", "model_not_allowed"))
    assert replayable(refusal(4, "refused", "invalid_request"))
    assert not replayable(refusal(5, "rate_limited", "rate_limited"))
    assert not replayable(refusal(6, "refused", "tier_not_in_phase"))
    assert not replayable(refusal(7, "refused", "invalid_token", prompt=None))
    assert not replayable(refusal(8, "refused", "invalid_request", prompt=None))
    outcome = records.generation_outcome(
        time=0.0,
        request_id="x",
        principal="p",
        client_id="c",
        tier="artists",
        route="/v1/videos",
        decision="allow",
        upstream_status=200,
        job_id="j",
        latency_ms=1.0,
        request_bytes=1,
        response_bytes=1,
    )
    assert not replayable(outcome)


def test_changes_and_rules_are_counted_with_bounded_examples() -> None:
    replay = Replay(*policies(), examples=2)
    for n in range(5):
        replay.add(request(n, "the pope blessing a crowd"))  # allow -> deny
    replay.add(request(10, "a kite", seconds="8"))  # allow -> hold
    replay.add(request(11, "a kite"))  # unchanged
    replay.add(refusal(12, "deny", "policy_violation"))  # deny -> deny
    document = replay.document()
    assert (document["total"], document["changed"]) == (8, 6)
    assert document["changes"] == [
        {"from": "allow", "to": "deny", "count": 5, "examples": ["req-0", "req-1"]},
        {"from": "allow", "to": "hold", "count": 1, "examples": ["req-10"]},
    ]
    rules = {r["id"]: r for r in document["rules"]}
    assert list(rules) == ["figures", "long", "gore"]
    assert (rules["figures"]["newly_matched"], rules["figures"]["no_longer_matched"]) == (5, 0)
    assert rules["figures"]["examples"]["newly_matched"] == ["req-0", "req-1"]
    assert rules["long"]["newly_matched"] == 1
    assert rules["gore"]["newly_matched"] == 0
    assert document["unscored"] == 8  # the new policy reads scores none of them has


def test_the_cache_changes_no_result() -> None:
    """Judged once and served from the cache, or judged every time: the same document."""
    stream = [request(n, f"the pope {n % 3}", seconds=str(4 + n % 2 * 4)) for n in range(30)]
    stream += [refusal(100 + n, "deny", "policy_violation") for n in range(5)]
    cached, uncached = Replay(*policies(), cache=4096), Replay(*policies(), cache=1)
    for record in stream:
        cached.add(record)
        uncached.add(record)
    assert cached.document() == uncached.document()


def test_recorded_scores_are_judged_by_the_new_moderation_rules() -> None:
    current, new = policies()
    replay = Replay(current, new)
    scored = moderation_record(
        ModerationScores({"violence/graphic": 0.7}), {"violence/graphic"}, Action.HOLD
    )
    replay.add(request(1, "a battle", moderation=scored))
    replay.add(request(2, "a battle"))
    document = replay.document()
    assert document["changes"] == [
        {"from": "allow", "to": "deny", "count": 1, "examples": ["req-1"]}
    ]
    assert document["unscored"] == 1
