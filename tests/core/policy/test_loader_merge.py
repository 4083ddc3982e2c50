"""How files merge into one policy, how errors are gathered, and where lines come from."""

from __future__ import annotations

import pytest

from gateway.core.policy import PolicyError, PolicyErrors, load_policy
from gateway.core.policy.source import parse_source
from tests.core.policy.support import files_of, load, y

NO_LISTS: dict[str, str] = {}


def rule(*lines: str) -> str:
    """rules.yaml with one rule `r` whose keys after `id` start on line 3."""
    return y("rules:", "  - id: r", *lines)


def test_every_error_in_every_file_is_reported_at_once_and_sorted() -> None:
    """Errors in several files come together, sorted by file and then by line."""
    overrides = {
        "tiers.yaml": y("tiers:", "  artists: {models: [sora-2], max_seconds: 0, sizes: [1x1]}"),
        "rules.yaml": rule("    when: {prompt_regex: '['}", "    action: nope", "  - id: r"),
        "aa.yaml": y("version: 3", "phases:", "  - {name: x, admit: [ghosts]}"),
    }
    with pytest.raises(PolicyErrors) as caught:
        load(overrides)
    assert [str(error) for error in caught.value.errors] == [
        "aa.yaml:3: phase 'x' admits unknown tier 'ghosts' (tiers: artists)",
        "rollout.yaml:1: version 1 disagrees with version 3 at aa.yaml:1",
        "rollout.yaml:7: phase 'open' admits unknown tier 'public' (tiers: artists)",
        "rollout.yaml:8: phase 'open' rolls out unknown tier 'public' (tiers: artists)",
        "rules.yaml:3: rule 'r': when.prompt_regex does not compile:"
        " unterminated character set at position 0",
        "rules.yaml:4: rule 'r': action must be 'deny', 'hold', 'flag' or 'allow' (got 'nope')",
        "rules.yaml:5: rule 'r': missing key 'when'",
        "rules.yaml:5: rule 'r': missing key 'action'",
        "rules.yaml:5: duplicate rule id 'r' (first defined at rules.yaml:2)",
        "tiers.yaml:2: tier 'artists': max_seconds must be positive",
    ]
    assert str(caught.value).splitlines()[0] == str(caught.value.errors[0])


def test_policy_error_prints_as_file_line_message() -> None:
    """A PolicyError reads like a compiler diagnostic."""
    assert str(PolicyError("policies/rules.yaml", 7, "oops")) == "policies/rules.yaml:7: oops"


def test_maps_and_lists_merge_across_files_in_name_order() -> None:
    """Tiers, phases, rules and lists may come from any file; files merge in name order."""
    more = y(
        "phases: [{name: last, admit: [studios]}]",
        "tiers: {studios: {models: [sora-2], max_seconds: 4, sizes: [720x1280]}}",
        "rules: [{id: later, when: {is_remix: true}, action: flag}]",
    )
    policy = load(
        {"zz.yaml": more, "aa.yaml": y("rules: [{id: first, when: {model: [x]}, action: flag}]")}
    )
    assert policy.phase_names == ("preview", "open", "last")
    assert list(policy.tiers) == ["artists", "public", "studios"]
    assert [rule.id for rule in policy.rules] == ["first", "no-figures", "later"]


def test_default_phase_is_the_first_phase_when_not_given() -> None:
    """Without default_phase, the first phase in rollout order is the default."""
    policy = load(
        {"rollout.yaml": y("phases: [{name: closed, admit: []}, {name: open, admit: [public]}]")}
    )
    assert policy.default_phase == "closed"


def test_empty_and_comment_only_files_are_fine() -> None:
    """A file with nothing but comments adds nothing (and breaks nothing)."""
    assert load({"empty.yaml": "", "notes.yaml": "# nothing yet\n"}).summary.rules == 1


def test_no_files_at_all() -> None:
    """An empty folder is an error, not an empty policy."""
    with pytest.raises(PolicyErrors) as caught:
        load_policy([], NO_LISTS.get)
    assert [str(e) for e in caught.value.errors] == [
        "(no policy files):1: no phases defined: add a phases list"
    ]


def test_source_records_the_line_of_every_path() -> None:
    """Keys and list items map to the 1-based line they were written on."""
    source, errors = parse_source("f.yaml", y("a:", "  b:", "    - x", "    - {c: 1}", "d: 2"))
    assert errors == []
    assert source is not None
    assert source.data == {"a": {"b": ["x", {"c": 1}]}, "d": 2}
    lines = {("a",): 1, ("a", "b"): 2, ("a", "b", 0): 3, ("a", "b", 1, "c"): 4, ("d",): 5}
    assert {path: source.line(path) for path in lines} == lines
    assert source.line(("a", "b", 1, "missing")) == 4


def test_an_alias_that_contains_itself_is_an_error() -> None:
    """A recursive YAML alias is reported instead of looping forever."""
    source, errors = parse_source("f.yaml", y("a: &x", "  - *x"))
    assert source is not None
    assert [str(e) for e in errors] == ["f.yaml:1: an alias refers to a node that contains it"]


def test_errors_are_sorted_even_when_files_are_given_unsorted() -> None:
    """The order files are passed in changes neither the errors nor their order."""
    texts = {"b.yaml": y("version: 2"), "a.yaml": y("version: 1", "colour: red")}
    reports = []
    for order in (texts, dict(reversed(texts.items()))):
        with pytest.raises(PolicyErrors) as caught:
            load_policy(files_of(order), NO_LISTS.get)
        reports.append([str(e) for e in caught.value.errors])
    assert reports[0] == reports[1]
    assert reports[0] == [
        "a.yaml:1: no phases defined: add a phases list",
        "a.yaml:2: unknown key 'colour' (allowed: default_phase, lists, moderation, phases, routes,"
        " rules, tiers, version)",
        "b.yaml:1: version 2 disagrees with version 1 at a.yaml:1",
    ]
