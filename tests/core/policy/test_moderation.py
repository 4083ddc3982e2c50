"""Moderation rules in the core: scores matched, a failed classifier read as `on_error`,
the classifier's answer read and recorded, and the one judge of tier and rules."""

from __future__ import annotations

import pytest

from gateway.core.policy import Action, GenerationRequest, Policy
from gateway.core.policy.judge import judge
from gateway.core.policy.moderation import (
    ModerationFailure,
    ModerationScores,
    UnreadableAnswer,
    moderation_record,
    read_answer,
    recorded_moderation,
)
from tests.core.policy.support import load, y


def policy(on_error: str = "hold") -> Policy:
    rules = y(
        "rules:",
        "  - id: no-figures",
        "    when: {prompt_matches_any: {list: figures}}",
        "    action: deny",
        "  - id: gore",
        "    when: {moderation: {category: violence/graphic, ge: 0.8}}",
        "    action: deny",
        "    tiers: [public]",
        "    message: No graphic violence.",
        "  - id: long-violence",
        "    when:",
        "      all:",
        "        - {moderation: {category: violence, ge: 0.5}}",
        "        - {param: seconds, gt: 4}",
        "    action: hold",
        "  - id: mild-violence",
        "    when: {moderation: {category: violence, ge: 0.3}}",
        "    action: flag",
        "    mode: shadow",
        "lists:",
        "  figures: lists/figures.txt",
        "moderation:",
        "  url: http://127.0.0.1:9/v1/moderations",
        "  timeout: 1500ms",
        f"  on_error: {on_error}",
    )
    return load({"rules.yaml": rules})


def scores(**values: float) -> ModerationScores:
    return ModerationScores({k.replace("_", "/"): v for k, v in values.items()})


REQUEST = GenerationRequest("a duel at dawn", "sora-2", {"seconds": "8", "size": "720x1280"})


def test_the_service_and_each_rules_categories_are_compiled() -> None:
    compiled = policy()
    assert compiled.moderation is not None
    assert compiled.moderation.timeout == 1.5
    assert compiled.moderation.on_error is Action.HOLD
    assert compiled.moderation.model == "omni-moderation-latest"
    assert compiled.moderation_categories("public") == {"violence/graphic", "violence"}
    assert compiled.moderation_categories("artists") == {"violence"}


def test_scores_at_or_over_the_threshold_match() -> None:
    """`ge` is inclusive; the most severe enforced match decides, shadow ones are recorded."""
    compiled = policy()
    graphic = compiled.evaluate(REQUEST, "public", scores(violence_graphic=0.8, violence=0.9))
    assert graphic.action is Action.DENY
    assert [h.rule_id for h in graphic.hits] == ["gore", "long-violence", "mild-violence"]
    below = compiled.evaluate(REQUEST, "public", scores(violence_graphic=0.79, violence=0.35))
    assert below.action is Action.ALLOW
    assert [(h.rule_id, h.shadow) for h in below.hits] == [("mild-violence", True)]


def test_rules_scoped_to_other_tiers_read_no_scores() -> None:
    decision = policy().evaluate(REQUEST, "artists", scores(violence_graphic=0.99))
    assert decision.action is Action.ALLOW
    assert decision.hits == ()


def test_without_an_answer_moderation_rules_are_passed_over() -> None:
    """Not consulted (a replayed record without scores): no moderation rule matches, and
    a `not` around one does not turn that into a match either."""
    compiled = load(
        {
            "rules.yaml": y(
                "rules:",
                "  - id: unless-safe",
                "    when: {not: {moderation: {category: violence, ge: 0.1}}}",
                "    action: deny",
                "moderation: {url: 'http://127.0.0.1:9/m', timeout: 1s, on_error: deny}",
            )
        }
    )
    assert compiled.evaluate(REQUEST, "public").action is Action.ALLOW
    assert compiled.evaluate(REQUEST, "public", scores()).action is Action.DENY


@pytest.mark.parametrize(
    ("on_error", "action", "rules"),
    [
        ("deny", Action.DENY, ["gore", "long-violence", "mild-violence"]),
        ("hold", Action.HOLD, ["gore", "long-violence", "mild-violence"]),
        ("allow", Action.ALLOW, []),
    ],
)
def test_a_failed_classifier_makes_every_moderation_rule_read_as_on_error(
    on_error: str, action: Action, rules: list[str]
) -> None:
    decision = policy(on_error).evaluate(REQUEST, "public", ModerationFailure("no answer"))
    assert decision.action is action
    assert [h.rule_id for h in decision.hits] == rules
    assert all(h.action is action for h in decision.hits)


def test_a_word_list_deny_still_decides_when_the_classifier_failed() -> None:
    request = GenerationRequest("the pope dancing", "sora-2", {"seconds": "4"})
    decision = policy("allow").evaluate(request, "public", ModerationFailure("no answer"))
    assert decision.action is Action.DENY
    assert decision.deciding_rule is not None
    assert decision.deciding_rule.rule_id == "no-figures"


def test_judge_checks_the_tier_before_the_rules() -> None:
    compiled = policy()
    too_long = judge(compiled, GenerationRequest("the pope", "sora-2", {"seconds": "30"}), "public")
    assert too_long.label == "refused"
    assert too_long.refusal is not None
    assert too_long.refusal.param == "seconds"
    assert too_long.rule_ids == ()
    remix = GenerationRequest("the pope", None, {"seconds": "30"}, is_remix=True)
    assert judge(compiled, remix, "public").label == "deny"
    assert judge(compiled, remix, "public").rule_ids == ("no-figures",)
    assert judge(compiled, GenerationRequest("a kite"), "public").label == "allow"


def test_an_answer_in_the_openai_shape_is_read() -> None:
    answer = read_answer(
        {
            "id": "modr-1",
            "results": [
                {
                    "flagged": True,
                    "categories": {"violence": True},
                    "category_scores": {"violence": 0.91, "sexual": 0},
                }
            ],
        }
    )
    assert answer == ModerationScores({"violence": 0.91, "sexual": 0.0}, True)
    assert answer.score("hate") == 0.0


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"results": []},
        {"results": [{"flagged": False}]},
        {"results": [{"category_scores": {"violence": "high"}}]},
        {"results": [{"category_scores": {"violence": True}}]},
    ],
)
def test_anything_else_is_unreadable(document: object) -> None:
    with pytest.raises(UnreadableAnswer):
        read_answer(document)


def test_the_record_holds_the_scores_used_or_the_failure() -> None:
    used = moderation_record(
        scores(violence=0.4, sexual=0.9), {"violence", "violence/graphic"}, Action.HOLD
    )
    assert used == {
        "scores": {"violence": 0.4, "violence/graphic": 0.0},
        "flagged": False,
        "error": None,
        "on_error": None,
    }
    failed = moderation_record(ModerationFailure("no answer within 2s"), {"violence"}, Action.HOLD)
    assert failed == {
        "scores": None,
        "flagged": None,
        "error": "no answer within 2s",
        "on_error": "hold",
    }
    assert recorded_moderation(used) == ModerationScores(
        {"violence": 0.4, "violence/graphic": 0.0}, False
    )
    assert recorded_moderation(failed) == ModerationFailure("no answer within 2s")
    assert recorded_moderation(None) is None
