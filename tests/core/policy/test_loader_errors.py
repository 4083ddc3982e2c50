"""Each way a policy can be invalid, reported as the exact `file:line: message`."""

from __future__ import annotations

import pytest

from gateway.core.policy import PolicyErrors
from gateway.core.policy.moderation import CATEGORIES
from tests.core.policy.support import load, y


def rule(*lines: str) -> str:
    """rules.yaml with one rule `r` whose keys after `id` start on line 3."""
    return y("rules:", "  - id: r", *lines)


def studios(*limits: str) -> str:
    """studios.yaml with one valid tier, whose `limits` (if any) start on line 7."""
    head = ("tiers:", "  studios:", "    models: [sora-2]", "    max_seconds: 4")
    return y(*head, "    sizes: [720x1280]", *(("    limits:", *limits) if limits else ()))


def phase(*lines: str) -> str:
    """zz.yaml with one phase `beta` whose keys after `name` start on line 3."""
    return y("phases:", "  - name: beta", *lines)


MATCHER_KEYS = (
    "all, any, eq, ge, gt, has_input_reference, in, is_remix, le, lt, model, moderation, not,"
    " param, prompt_matches_any, prompt_regex"
)
TOP_KEYS = "default_phase, lists, moderation, phases, routes, rules, tiers, version"
TIERS = "(tiers: artists, public)"
MODERATION = y(
    "",
    "moderation:",
    "  url: http://127.0.0.1:9/v1/moderations",
    "  timeout: 2s",
    "  on_error: hold",
)

# name: (files replacing or joining the base policy, the one error expected)
FIXTURES: dict[str, tuple[dict[str, str], str]] = {
    # The YAML itself
    "yaml_syntax": (
        {"rules.yaml": rule("    when: {prompt_regex: 'a'", "    action: deny")},
        "rules.yaml:4: invalid YAML: expected ',' or '}', but got '<scalar>'"
        " (while parsing a flow mapping)",
    ),
    "duplicate_key": (
        {"studios.yaml": studios() + "    max_seconds: 8\n"},
        "studios.yaml:6: duplicate key 'max_seconds'",
    ),
    "merge_key": (
        {"extra.yaml": y("# shared", "<<: {version: 1}")},
        "extra.yaml:2: merge keys (<<) are not supported; write the keys out",
    ),
    "top_level_not_mapping": (
        {"extra.yaml": y("- version: 1")},
        "extra.yaml:1: the top level must be a mapping of keys",
    ),
    # Shape
    "unknown_key": (
        {"extra.yaml": y("# more", "colour: blue")},
        f"extra.yaml:2: unknown key 'colour' (allowed: {TOP_KEYS})",
    ),
    "unknown_key_in_rule": (
        {
            "rules.yaml": rule(
                "    when: {is_remix: true}", "    action: flag", "    severity: high"
            )
        },
        "rules.yaml:5: rule 'r': unknown key 'severity'"
        " (allowed: action, id, message, mode, tiers, when)",
    ),
    "unknown_key_in_matcher": (
        {"rules.yaml": rule("    when: {prompt_regex: a, flags: i}", "    action: flag")},
        f"rules.yaml:3: rule 'r': unknown key 'flags' in when (allowed: {MATCHER_KEYS})",
    ),
    "missing_key": (
        {"rules.yaml": rule("    when: {is_remix: true}")},
        "rules.yaml:2: rule 'r': missing key 'action'",
    ),
    "no_value": (
        {"rules.yaml": rule("    when: {is_remix: true}", "    action: flag", "    message:")},
        "rules.yaml:5: rule 'r' has no value for 'message'",
    ),
    "top_level_no_value": (
        {"zz.yaml": y("tiers:", "rules: [{id: r, when: {is_remix: true}, action: flag}]")},
        "zz.yaml:1: tiers has no value",
    ),
    "wrong_type": (
        {"studios.yaml": studios().replace("max_seconds: 4", "max_seconds: '4'")},
        "studios.yaml:4: tier 'studios': max_seconds must be a whole number",
    ),
    "bad_size": (
        {"studios.yaml": studios().replace("720x1280", "720p")},
        "studios.yaml:5: tier 'studios': sizes must be WIDTHxHEIGHT such as 1280x720 (got '720p')",
    ),
    # Versions and phases
    "version_not_a_number": (
        {"extra.yaml": y("version: one")},
        "extra.yaml:1: version must be a whole number",
    ),
    "version_mismatch": (
        {"zz.yaml": y("# newer", "version: 2")},
        "zz.yaml:2: version 2 disagrees with version 1 at rollout.yaml:1",
    ),
    "empty_phases": (
        {"rollout.yaml": y("version: 1", "phases: []")},
        "rollout.yaml:2: phases must not be empty",
    ),
    "no_phases": (
        {"rollout.yaml": y("version: 1")},
        "rollout.yaml:1: no phases defined: add a phases list",
    ),
    "unknown_default_phase": (
        {"rollout.yaml": y("default_phase: beta", "phases: [{name: preview, admit: [artists]}]")},
        "rollout.yaml:1: default_phase 'beta' is not a phase (phases: preview)",
    ),
    "default_phase_mismatch": (
        {"zz.yaml": y("default_phase: open")},
        "zz.yaml:1: default_phase 'open' disagrees with 'preview' at rollout.yaml:2",
    ),
    "unknown_tier_in_phase": (
        {"zz.yaml": phase("    admit: [artists, studios]")},
        f"zz.yaml:3: phase 'beta' admits unknown tier 'studios' {TIERS}",
    ),
    "unknown_tier_in_rollout": (
        {"zz.yaml": phase("    admit: [artists]", "    rollout:", "      studios: 5")},
        f"zz.yaml:5: phase 'beta' rolls out unknown tier 'studios' {TIERS}",
    ),
    "rollout_tier_not_admitted": (
        {"zz.yaml": phase("    admit: [artists]", "    rollout: {public: 5}")},
        "zz.yaml:4: phase 'beta' rolls out tier 'public', which it does not admit",
    ),
    "rollout_out_of_range": (
        {"zz.yaml": phase("    admit: [public]", "    rollout: {public: 150}")},
        "zz.yaml:4: phase 'beta': rollout.public must be at most 100",
    ),
    # Rules
    "unknown_tier_in_rule": (
        {
            "rules.yaml": rule(
                "    when: {is_remix: true}", "    action: flag", "    tiers: [studios]"
            )
        },
        f"rules.yaml:5: rule 'r' names unknown tier 'studios' {TIERS}",
    ),
    "empty_rule_tiers": (
        {"rules.yaml": rule("    when: {is_remix: true}", "    action: flag", "    tiers: []")},
        "rules.yaml:5: rule 'r': tiers must not be empty",
    ),
    "bad_action": (
        {"rules.yaml": rule("    when: {is_remix: true}", "    action: block")},
        "rules.yaml:4: rule 'r': action must be 'deny', 'hold', 'flag' or 'allow' (got 'block')",
    ),
    "bad_mode": (
        {"rules.yaml": rule("    when: {is_remix: true}", "    action: flag", "    mode: dry-run")},
        "rules.yaml:5: rule 'r': mode must be 'enforce' or 'shadow' (got 'dry-run')",
    ),
    "bad_regex": (
        {"rules.yaml": rule("    when: {prompt_regex: '(rifle'}", "    action: flag")},
        "rules.yaml:3: rule 'r': when.prompt_regex does not compile:"
        " missing ), unterminated subpattern at position 0",
    ),
    "bad_terms": (
        {"rules.yaml": rule("    when: {prompt_matches_any: []}", "    action: flag")},
        "rules.yaml:3: rule 'r': when.prompt_matches_any must be a non-empty list of words"
        " or phrases, or {list: NAME} (got [])",
    ),
    "matcher_several_kinds": (
        {"rules.yaml": rule("    when: {prompt_regex: a, is_remix: true}", "    action: flag")},
        "rules.yaml:3: rule 'r': when mixes prompt_regex and is_remix:"
        " give one test per matcher and combine them with all or any",
    ),
    "matcher_empty": (
        {"rules.yaml": rule("    when:", "      all:", "        - {}", "    action: flag")},
        "rules.yaml:5: rule 'r': when.all[0] is empty: give one of prompt_matches_any,"
        " prompt_regex, param, model, has_input_reference, is_remix, moderation, all, any, not",
    ),
    "matcher_empty_all": (
        {"rules.yaml": rule("    when: {any: []}", "    action: flag")},
        "rules.yaml:3: rule 'r': when.any must not be empty",
    ),
    "comparison_without_param": (
        {"rules.yaml": rule("    when: {gt: 8}", "    action: flag")},
        "rules.yaml:3: rule 'r': when uses gt without param",
    ),
    "param_without_comparison": (
        {"rules.yaml": rule("    when: {param: seconds}", "    action: flag")},
        "rules.yaml:3: rule 'r': when needs a comparison for param 'seconds':"
        " one of gt, ge, lt, le, eq, in",
    ),
    "param_two_comparisons": (
        {"rules.yaml": rule("    when: {param: seconds, gt: 4, lt: 8}", "    action: flag")},
        "rules.yaml:3: rule 'r': when compares param 'seconds' with gt and lt:"
        " give one comparison per matcher and combine them with all",
    ),
    "comparison_not_a_number": (
        {"rules.yaml": rule("    when: {not: {param: seconds, gt: '8'}}", "    action: flag")},
        "rules.yaml:3: rule 'r': when.not.gt must be a number (got '8')",
    ),
    "in_not_a_list": (
        {"rules.yaml": rule("    when: {param: size, in: 720x1280}", "    action: flag")},
        "rules.yaml:3: rule 'r': when.in must be a non-empty list of values (got '720x1280')",
    ),
    "flag_not_a_boolean": (
        {"rules.yaml": rule("    when: {is_remix: yes please}", "    action: flag")},
        "rules.yaml:3: rule 'r': when.is_remix must be true or false",
    ),
    # Lists
    "missing_list_file": (
        {"zz.yaml": y("lists:", "  faces: lists/faces.txt")},
        "zz.yaml:2: list 'faces': file 'lists/faces.txt' not found",
    ),
    "undeclared_list": (
        {
            "rules.yaml": rule(
                "    when:",
                "      any:",
                "        - {prompt_matches_any: {list: faces}}",
                "    action: deny",
            )
        },
        "rules.yaml:5: rule 'r' uses undeclared list 'faces' (lists: none defined)",
    ),
    # Limits
    "malformed_limit_missing_period": (
        {"studios.yaml": studios("      - {name: requests, per: principal, rate: 30}")},
        "studios.yaml:7: tier 'studios' limit 'requests' needs period: a limit has rate and"
        " period (with optional burst or cost), or concurrency alone",
    ),
    "malformed_limit_bad_period": (
        {"studios.yaml": studios("      - {name: requests, per: tier, rate: 30, period: 1x}")},
        "studios.yaml:7: tier 'studios' limit 'requests': period must be a duration longer"
        " than zero such as 90s, 15m or 1d (got '1x')",
    ),
    "malformed_limit_zero_rate": (
        {"studios.yaml": studios("      - {name: requests, per: client, rate: 0, period: 1m}")},
        "studios.yaml:7: tier 'studios' limit 'requests': rate must be positive",
    ),
    "malformed_limit_fractional_burst": (
        {
            "studios.yaml": studios(
                "      - {name: r, per: client, rate: 5, period: 1m, burst: 1.5}"
            )
        },
        "studios.yaml:7: tier 'studios' limit 'r': burst must be a whole number",
    ),
    "malformed_limit_bad_per": (
        {"studios.yaml": studios("      - {name: requests, per: user, rate: 30, period: 1m}")},
        "studios.yaml:7: tier 'studios' limit 'requests':"
        " per must be 'principal', 'client' or 'tier' (got 'user')",
    ),
    "malformed_limit_mixed_kinds": (
        {"studios.yaml": studios("      - {name: jobs, per: principal, concurrency: 3, rate: 5}")},
        "studios.yaml:7: tier 'studios' limit 'jobs' cannot combine concurrency with rate",
    ),
    "malformed_limit_no_name": (
        {"studios.yaml": studios("      - {per: principal, concurrency: 3}")},
        "studios.yaml:7: tier 'studios': missing key 'name' in limits[0]",
    ),
    "malformed_limit_unknown_key": (
        {"studios.yaml": studios("      - {name: jobs, per: tier, concurrency: 3, window: 1m}")},
        "studios.yaml:7: tier 'studios' limit 'jobs': unknown key 'window'"
        " (allowed: burst, concurrency, cost, name, per, period, rate)",
    ),
    "duplicate_limit_name": (
        {
            "studios.yaml": studios(
                "      - {name: jobs, per: tier, concurrency: 3}",
                "      - {name: jobs, per: principal, concurrency: 1}",
            )
        },
        "studios.yaml:8: tier 'studios' has two limits named 'jobs'",
    ),
    # Definitions given twice
    "duplicate_rule_id": (
        {
            "rules.yaml": rule(
                "    when: {is_remix: true}",
                "    action: flag",
                "  - id: r",
                "    when: {is_remix: false}",
                "    action: flag",
            )
        },
        "rules.yaml:5: duplicate rule id 'r' (first defined at rules.yaml:2)",
    ),
    "duplicate_rule_id_across_files": (
        {"zz.yaml": y("rules:", "  - {id: no-figures, when: {is_remix: true}, action: flag}")},
        "zz.yaml:2: duplicate rule id 'no-figures' (first defined at rules.yaml:2)",
    ),
    "duplicate_tier": (
        {"zz.yaml": y("tiers:", "  public: {models: [sora-2], max_seconds: 4, sizes: [720x1280]}")},
        "zz.yaml:2: duplicate tier 'public' (first defined at tiers.yaml:9)",
    ),
    "duplicate_phase": (
        {"zz.yaml": phase("    admit: []", "  - name: open", "    admit: []")},
        "zz.yaml:4: duplicate phase 'open' (first defined at rollout.yaml:6)",
    ),
    # Moderation
    "moderation_without_service": (
        {
            "rules.yaml": rule(
                "    when: {moderation: {category: violence, ge: 0.5}}", "    action: deny"
            )
        },
        "rules.yaml:3: rule 'r' reads moderation scores, but no moderation service is"
        " configured (add a top-level moderation: key)",
    ),
    "moderation_unknown_category": (
        {
            "rules.yaml": rule(
                "    when: {moderation: {category: gore, ge: 0.5}}", "    action: deny"
            )
            + MODERATION
        },
        "rules.yaml:3: rule 'r': when.moderation.category must be a moderation category:"
        f" one of {', '.join(CATEGORIES)} (got 'gore')",
    ),
    "moderation_score_out_of_range": (
        {
            "rules.yaml": rule(
                "    when: {moderation: {category: violence, ge: 2}}", "    action: deny"
            )
            + MODERATION
        },
        "rules.yaml:3: rule 'r': when.moderation.ge must be a score from 0 to 1 (got 2)",
    ),
    "moderation_unknown_key_in_matcher": (
        {
            "rules.yaml": rule(
                "    when: {moderation: {category: violence, ge: 0.5, gt: 0.5}}", "    action: deny"
            )
            + MODERATION
        },
        "rules.yaml:3: rule 'r': unknown key 'gt' in when.moderation (allowed: category, ge)",
    ),
    "moderation_bad_on_error": (
        {
            "zz.yaml": y(
                "moderation:",
                "  url: http://127.0.0.1:9/v1/moderations",
                "  timeout: 2s",
                "  on_error: retry",
            )
        },
        "zz.yaml:4: moderation.on_error must be 'deny', 'hold' or 'allow' (got 'retry')",
    ),
    "moderation_bad_timeout": (
        {
            "zz.yaml": y(
                "moderation:",
                "  url: http://127.0.0.1:9/v1/moderations",
                "  timeout: soon",
                "  on_error: hold",
            )
        },
        "zz.yaml:3: moderation.timeout must be a duration longer than zero such as 90s, 15m"
        " or 1d (got 'soon')",
    ),
    "moderation_bad_url": (
        {
            "zz.yaml": y(
                "moderation:", "  url: ftp://example/mod", "  timeout: 2s", "  on_error: hold"
            )
        },
        "zz.yaml:2: moderation.url must be an http:// or https:// URL (got 'ftp://example/mod')",
    ),
    "moderation_unknown_key": (
        {
            "zz.yaml": y(
                "moderation:",
                "  url: http://127.0.0.1:9/v1/moderations",
                "  timeout: 2s",
                "  on_error: hold",
                "  retries: 3",
            )
        },
        "zz.yaml:5: unknown key 'retries' in moderation (allowed: model, on_error, timeout, url)",
    ),
    "moderation_twice": (
        {"zz.yaml": MODERATION.removeprefix("\n"), "zzz.yaml": MODERATION.removeprefix("\n")},
        "zzz.yaml:1: moderation is configured twice (first at zz.yaml:1)",
    ),
    "duplicate_list": (
        {"zz.yaml": y("lists:", "  figures: lists/other.txt")},
        "zz.yaml:2: duplicate list 'figures' (first defined at rules.yaml:6)",
    ),
    # Routes forwarded besides the documented ones
    "route_path_with_dot_segment": (
        {"routes.yaml": y("routes:", "  - {method: GET, path: /v1/../models}")},
        "routes.yaml:2: route 'GET /v1/../models': path must be /segment/segment... of"
        " letters, digits, '-', '_', '~' and inner '.', or {name} placeholders (no '//', no"
        " trailing '/', no escapes) (got '/v1/../models')",
    ),
    "route_path_with_trailing_slash": (
        {"routes.yaml": y("routes:", "  - {method: GET, path: /v1/models/}")},
        "routes.yaml:2: route 'GET /v1/models/': path must be /segment/segment... of"
        " letters, digits, '-', '_', '~' and inner '.', or {name} placeholders (no '//', no"
        " trailing '/', no escapes) (got '/v1/models/')",
    ),
    "route_unknown_method": (
        {"routes.yaml": y("routes:", "  - {method: get, path: /v1/models}")},
        "routes.yaml:2: route 'get /v1/models': method must be"
        " 'GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE' or 'OPTIONS' (got 'get')",
    ),
    "route_shadowing_a_documented_route": (
        {"routes.yaml": y("routes:", "  - {method: GET, path: '/v1/videos/{video}'}")},
        "routes.yaml:2: route 'GET /v1/videos/{video}' overlaps a documented route,"
        " which cannot be listed",
    ),
    "route_with_another_method_on_a_documented_path": (
        {"routes.yaml": y("routes:", "  - {method: PUT, path: '/v1/videos/{video}'}")},
        "routes.yaml:2: route 'PUT /v1/videos/{video}' overlaps a documented route,"
        " which cannot be listed",
    ),
    "route_unknown_tier": (
        {"routes.yaml": y("routes:", "  - {method: GET, path: /v1/models, tiers: [gold]}")},
        "routes.yaml:2: route 'GET /v1/models' names unknown tier 'gold' (tiers: artists, public)",
    ),
    "duplicate_route": (
        {
            "routes.yaml": y(
                "routes:",
                "  - {method: GET, path: /v1/models}",
                "  - {method: GET, path: /v1/models, tiers: [public]}",
            )
        },
        "routes.yaml:3: duplicate route 'GET /v1/models' (first defined at routes.yaml:2)",
    ),
}


@pytest.mark.parametrize("name", list(FIXTURES))
def test_each_error_is_reported_at_its_line(name: str) -> None:
    """The fixture named after an error yields exactly that `file:line: message`."""
    overrides, expected = FIXTURES[name]
    with pytest.raises(PolicyErrors) as caught:
        load(overrides)
    assert [str(error) for error in caught.value.errors] == [expected]


def test_base_policy_is_valid() -> None:
    """The policy the fixtures modify loads as it is, so each fixture adds one error only."""
    assert load({}).phase_names == ("preview", "open")
