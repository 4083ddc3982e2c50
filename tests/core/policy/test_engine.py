"""The compiled policy judging requests: rules, tier constraints, admission, versions."""

from __future__ import annotations

from functools import cache

import pytest

from gateway.core.policy import (
    Action,
    Admission,
    GenerationRequest,
    InputReference,
    LimitKind,
    LimitScope,
    LimitSpec,
    ParamValue,
    Policy,
    PolicyFile,
    load_policy,
    rollout_bucket,
)
from gateway.core.policy.matchers import PromptTerms
from tests.core.policy.support import SHIPPED, load, load_shipped, y

REFERENCE = InputReference(size=10, sha256="0" * 64, content_type="image/png")

ENGINE_RULES = y(
    "rules:",
    "  - {id: deny-figures, when: {prompt_matches_any: {list: figures}}, action: deny,",
    "     tiers: [public], message: No public figures.}",
    "  - {id: hold-long, when: {param: seconds, gt: 8}, action: hold}",
    "  - {id: flag-weapons, when: {prompt_regex: '\\bRIFLES?\\b'}, action: flag}",
    "  - {id: trial-deepfakes, when: {prompt_matches_any: [deepfake]}, action: deny, mode: shadow}",
    "  - {id: allow-anime, when: {prompt_matches_any: [anime]}, action: allow}",
    "lists: {figures: lists/figures.txt}",
)


@cache
def engine() -> Policy:
    return load({"rules.yaml": ENGINE_RULES})


@cache
def single_rule(when: str) -> Policy:
    rules = y("rules:", f"  - {{id: r, action: flag, when: {when}}}", "lists:")
    return load({"rules.yaml": rules + "  figures: lists/figures.txt\n"})


def request(
    prompt: str = "a cat on a skateboard",
    model: str | None = None,
    reference: bool = False,
    remix: bool = False,
    **params: ParamValue,
) -> GenerationRequest:
    return GenerationRequest(prompt, model, params, REFERENCE if reference else None, remix)


@pytest.mark.parametrize(
    ("tier", "req", "action", "hits"),
    [
        ("public", request(), Action.ALLOW, []),
        ("public", request("The POPE waving"), Action.DENY, ["deny-figures"]),
        ("artists", request("The POPE waving"), Action.ALLOW, []),
        ("public", request("a rifle", seconds="12"), Action.HOLD, ["hold-long", "flag-weapons"]),
        (
            "public",
            request("the prime  minister with a rifle", seconds=12),
            Action.DENY,
            ["deny-figures", "hold-long", "flag-weapons"],
        ),
        ("artists", request("a deepfake cat"), Action.ALLOW, ["trial-deepfakes*"]),
        ("public", request("deepfake rifles"), Action.FLAG, ["flag-weapons", "trial-deepfakes*"]),
        ("artists", request("anime rifle"), Action.FLAG, ["flag-weapons", "allow-anime"]),
        ("artists", request("anime"), Action.ALLOW, ["allow-anime"]),
        ("ghosts", request("the pope", seconds="9"), Action.HOLD, ["hold-long"]),
    ],
)
def test_decision_table(tier: str, req: GenerationRequest, action: Action, hits: list[str]) -> None:
    """Every matching rule is recorded (shadow ones starred) and the most severe enforced wins."""
    decision = engine().evaluate(req, tier)
    assert decision.action is action
    assert [hit.rule_id + ("*" if hit.shadow else "") for hit in decision.hits] == hits
    assert decision.policy_version == engine().version


def test_deciding_rule_carries_its_message() -> None:
    """A deny names the rule that decided it, with the rule's message."""
    decision = engine().evaluate(request("pope", seconds=10), "public")
    assert decision.deciding_rule is not None
    assert (decision.deciding_rule.rule_id, decision.deciding_rule.message) == (
        "deny-figures",
        "No public figures.",
    )


@pytest.mark.parametrize(
    ("when", "req", "matches"),
    [
        ("{prompt_matches_any: [pope]}", request("A POPE"), True),
        ("{prompt_matches_any: [pope]}", request("a popular song"), False),
        ("{prompt_matches_any: [prime minister]}", request("the Prime   Minister"), True),
        ("{prompt_matches_any: {list: figures}}", request("prime minister"), True),
        ("{prompt_regex: '\\brifles?\\b'}", request("Two RIFLES"), True),
        ("{prompt_regex: '\\brifles?\\b'}", request("a rifleman"), False),
        ("{param: seconds, gt: 8}", request(seconds="12"), True),
        ("{param: seconds, gt: 8}", request(seconds=12), True),
        ("{param: seconds, gt: 8}", request(seconds="8"), False),
        ("{param: seconds, gt: 8}", request(), False),
        ("{param: seconds, gt: 8}", request(seconds="twelve"), False),
        ("{param: seconds, gt: 8}", request(seconds=True), False),
        ("{param: seconds, ge: 8}", request(seconds="8"), True),
        ("{param: seconds, lt: 8}", request(seconds="4"), True),
        ("{param: seconds, lt: 8}", request(seconds=8), False),
        ("{param: seconds, le: 8}", request(seconds=8.0), True),
        ("{param: seconds, le: 8}", request(seconds="8.5"), False),
        ("{param: seconds, eq: 8}", request(seconds="8"), True),
        ("{param: seconds, eq: 8}", request(seconds="8.0"), True),
        ("{param: seconds, eq: 8}", request(seconds="4"), False),
        ("{param: seconds, eq: 8}", request(), False),
        ("{param: quality, eq: high}", request(quality="high"), True),
        ("{param: quality, eq: high}", request(quality="HIGH"), False),
        ("{param: loop, eq: true}", request(loop=True), True),
        ("{param: loop, eq: true}", request(loop="true"), True),
        ("{param: loop, eq: true}", request(loop=1), False),
        ("{param: size, in: [720x1280, 1280x720]}", request(size="1280x720"), True),
        ("{param: size, in: [720x1280, 1280x720]}", request(size="1024x1792"), False),
        ("{param: seconds, in: [4, 8]}", request(seconds="8"), True),
        ("{param: seconds, in: [4, 8]}", request(), False),
        ("{model: [sora-2-pro]}", request(model="sora-2-pro"), True),
        ("{model: [sora-2-pro]}", request(), False),
        ("{model: [sora-2]}", request(), True),
        ("{has_input_reference: true}", request(reference=True), True),
        ("{has_input_reference: true}", request(), False),
        ("{has_input_reference: false}", request(), True),
        ("{is_remix: true}", request(remix=True), True),
        ("{is_remix: true}", request(), False),
        ("{is_remix: false}", request(), True),
        (
            "{all: [{is_remix: true}, {param: seconds, gt: 4}]}",
            request(remix=True, seconds=8),
            True,
        ),
        ("{all: [{is_remix: true}, {param: seconds, gt: 4}]}", request(remix=True), False),
        ("{any: [{is_remix: true}, {param: seconds, gt: 4}]}", request(seconds=8), True),
        ("{any: [{is_remix: true}, {param: seconds, gt: 4}]}", request(), False),
        ("{not: {param: seconds, gt: 8}}", request(), True),
        ("{not: {param: seconds, gt: 8}}", request(seconds=9), False),
    ],
)
def test_matcher_table(when: str, req: GenerationRequest, matches: bool) -> None:
    """Each matcher, comparator and combinator matches exactly the requests it describes."""
    hits = single_rule(when).evaluate(req, "artists").hits
    assert [hit.rule_id for hit in hits] == (["r"] if matches else [])


def test_a_list_used_by_many_rules_is_compiled_once() -> None:
    """Rules naming the same list share one compiled TermMatcher."""
    rules = "  - {id: a, action: flag, when: {prompt_matches_any: {list: figures}}}"
    twice = y("rules:", rules, rules.replace("id: a", "id: b"), "lists: {figures: f.txt}")
    policy = load({"rules.yaml": twice}, {"f.txt": "pope"})
    first, second = (rule.matcher for rule in policy.rules)
    assert isinstance(first, PromptTerms)
    assert isinstance(second, PromptTerms)
    assert first.terms is second.terms


@pytest.mark.parametrize(
    ("tier", "req", "refusal"),
    [
        ("public", request(), None),
        ("public", request(model="sora-2-pro"), (403, "model_not_allowed", "model")),
        ("artists", request(model="sora-2-pro", seconds="12", size="1280x720"), None),
        ("public", request(seconds="8"), None),
        ("public", request(seconds=8.0), None),
        ("public", request(seconds="9"), (400, "invalid_request", "seconds")),
        ("public", request(seconds=9), (400, "invalid_request", "seconds")),
        ("public", request(seconds="four"), (400, "invalid_request", "seconds")),
        ("public", request(seconds=True), (400, "invalid_request", "seconds")),
        ("public", request(seconds="-4"), (400, "invalid_request", "seconds")),
        ("public", request(size="1280x720"), (400, "invalid_request", "size")),
        ("ghosts", request(), (403, "model_not_allowed", "model")),
    ],
)
def test_tier_constraints(
    tier: str, req: GenerationRequest, refusal: tuple[int, str, str] | None
) -> None:
    """Model, seconds (compared numerically) and size must fit the tier; absent ones always do."""
    found = load({}).check_tier(req, tier)
    assert (None if found is None else (found.status, found.code, found.param)) == refusal


def test_tier_refusal_messages() -> None:
    """A refusal tells the caller what the tier allows."""
    policy = load({})
    model = policy.check_tier(request(model="sora-2-pro"), "public")
    seconds = policy.check_tier(request(seconds="9"), "public")
    assert model is not None
    assert model.message == "The model 'sora-2-pro' is not available to the public tier" + (
        " (available: sora-2)."
    )
    assert seconds is not None
    assert seconds.message == "seconds must be at most 8 for the public tier (got '9')."


def _principals(admitted: bool, tier: str = "public", percent: float = 10) -> str:
    return next(
        p for n in range(1000) if ((rollout_bucket(p := f"p{n}", tier) < percent) is admitted)
    )


def test_admission() -> None:
    """A tier passes only in phases that admit it, and then only within its rollout."""
    policy = load({})
    assert policy.admission("preview", "artists", "anyone") is Admission.ADMITTED
    assert policy.admission("preview", "public", "anyone") is Admission.TIER_NOT_IN_PHASE
    assert policy.admission("open", "public", _principals(True)) is Admission.ADMITTED
    assert policy.admission("open", "public", _principals(False)) is Admission.WAITLISTED
    assert policy.admission("open", "ghosts", "anyone") is Admission.UNKNOWN_TIER
    assert policy.admission("retired", "artists", "anyone") is Admission.TIER_NOT_IN_PHASE


def test_phases() -> None:
    """Phases keep rollout order; the stored phase wins over the default when set."""
    policy = load({})
    assert policy.phase_names == ("preview", "open")
    open_phase = policy.phase("open")
    assert open_phase is not None
    assert dict(open_phase.rollout) == {"public": 10}
    assert policy.phase("retired") is None
    assert policy.current_phase(None) == "preview"
    assert policy.current_phase("open") == "open"


def test_limits_and_summary_are_compiled() -> None:
    """Limits become LimitSpecs (burst defaulting to rate) and the summary counts everything."""
    policy = load(
        {
            "x.yaml": y(
                "tiers:",
                "  x:",
                "    models: [sora-2]",
                "    max_seconds: 4",
                "    sizes: [720x1280]",
                "    limits: [{name: s, per: client, cost: seconds, rate: 60, period: 1h}]",
            )
        }
    )
    assert policy.tiers["artists"].limits == (
        LimitSpec("requests", LimitScope.PRINCIPAL, LimitKind.RATE, 30, 60.0, 10),
        LimitSpec("jobs", LimitScope.PRINCIPAL, LimitKind.CONCURRENCY, concurrency=3),
    )
    cost = policy.tiers["x"].limits[0]
    assert cost == LimitSpec("s", LimitScope.CLIENT, LimitKind.COST, 60, 3600.0, 60, "seconds")
    assert cost.emission_interval == 60.0
    summary = policy.summary
    assert (summary.phases, summary.tiers, summary.rules, summary.lists) == (2, 3, 1, 1)
    assert (summary.shadow_rules, summary.list_terms) == (0, 2)


def test_shipped_policies_load() -> None:
    """The shipped policies/ folder is valid and defines the three tiers and phases."""
    policy = load_shipped()
    assert set(policy.tiers) == {"invited_artists", "studios", "public"}
    assert policy.default_phase in policy.phase_names
    assert len(policy.version) == 64


def _shipped_inputs() -> tuple[dict[str, str], dict[str, str]]:
    files = {p.name: p.read_text("utf-8") for p in sorted(SHIPPED.glob("*.yaml"))}
    lists = {f"lists/{p.name}": p.read_text("utf-8") for p in (SHIPPED / "lists").glob("*.txt")}
    return files, lists


def _version(files: dict[str, str], lists: dict[str, str], folder: str = "policies") -> str:
    sources = [PolicyFile(f"{folder}/{name}", text) for name, text in files.items()]
    return load_policy(sources, lists.get).version


def test_shipped_version_is_stable() -> None:
    """The version is a function of the content only: the same across loads, folders and order."""
    files, lists = _shipped_inputs()
    version = _version(files, lists)
    assert version == load_shipped().version == _version(files, lists, "/etc/phasegate")
    assert version == _version(dict(reversed(files.items())), lists)


def test_shipped_version_changes_with_any_byte() -> None:
    """A one-byte change to any policy file or word list gives a new version."""
    files, lists = _shipped_inputs()
    versions = {_version(files, lists)}
    for name in files:
        versions.add(_version({**files, name: files[name] + "#"}, lists))
    for name in lists:
        versions.add(_version(files, {**lists, name: lists[name] + "#"}))
    assert len(versions) == 1 + len(files) + len(lists)


def test_list_files_skip_comments_and_blank_lines() -> None:
    """Word list files hold one term per line; `#` lines and blank lines are not terms."""
    policy = load({}, {"lists/figures.txt": "# heads\n\n  pope  \n#cardinal\n"})
    assert policy.summary.list_terms == 1
    assert engine().evaluate(request("a cardinal"), "public").action is Action.ALLOW
    assert policy.evaluate(request("a cardinal"), "public").action is Action.ALLOW
    assert policy.evaluate(request("the pope"), "public").action is Action.DENY
