"""`phasegate policy test`: a policy folder's cases run as a real command, failures and
invalid case files named by `file:line`, and the case folder kept out of the policy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.processes import POLICIES, run

MODERATION = """
moderation:
  url: http://127.0.0.1:9/v1/moderations
  timeout: 1s
  on_error: hold
rules:
  - id: classifier-gore
    when: {moderation: {category: violence/graphic, ge: 0.8}}
    action: deny
    tiers: [public]
"""

CASES = """cases:
  - name: calm
    tier: public
    request: {prompt: A kite over a beach, seconds: 4}
    expect: {decision: allow, rules: []}
  - name: gore by the classifier
    tier: public
    request: {prompt: A battle, seconds: 4}
    moderation: {violence/graphic: 0.93}
    expect: {decision: deny, rules: [classifier-gore]}
  - name: classifier down
    tier: public
    request: {prompt: A battle, seconds: 4}
    moderation: error
    expect: {decision: hold, rules: [classifier-gore]}
  - name: a remix
    tier: public
    request: {prompt: Same again but at night, remix: true}
    expect: {decision: flag, rules: [public-remixes]}
  - name: wrong on purpose
    tier: studios
    request: {model: sora-2, prompt: The pope waving, seconds: 4}
    expect: {decision: allow}
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The shipped policies with a moderation rule, and a case folder of their own."""
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    (policies / "moderation.yaml").write_text(MODERATION)
    shutil.rmtree(policies / "tests")
    (policies / "tests").mkdir()
    return policies


def test_the_shipped_policies_pass_their_own_cases() -> None:
    """`phasegate policy test policies` exits 0: what CI runs too."""
    result = run("policy", "test", str(POLICIES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 failing" in result.stdout
    document = json.loads(run("policy", "test", str(POLICIES), "--json").stdout)
    assert document["failed"] == 0
    assert document["cases"] == document["passed"] > 0
    assert {r["file"] for r in document["results"]} >= {str(POLICIES / "tests/examples.yaml")}


def test_a_failing_case_is_named_by_file_and_line(folder: Path) -> None:
    cases = folder / "tests" / "mine.yaml"
    cases.write_text(CASES)
    result = run("policy", "test", str(folder))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{cases}:20: case 'wrong on purpose' (studios): expected allow, got deny",
        f"{folder}: 5 case(s) in 1 file(s), 1 failing; version "
        + json.loads(run("policy", "check", str(folder), "--json").stdout)["version"][:12],
    ]
    document = json.loads(run("policy", "test", str(folder), "--json").stdout)
    assert [(r["name"], r["passed"]) for r in document["results"]] == [
        ("calm", True),
        ("gore by the classifier", True),
        ("classifier down", True),
        ("a remix", True),
        ("wrong on purpose", False),
    ]
    assert document["results"][4]["actual"] == {
        "decision": "deny",
        "rules": ["no-real-public-figures"],
    }


def test_rules_must_match_exactly(folder: Path) -> None:
    """`rules` lists every rule that matches, no more and no fewer."""
    cases = folder / "tests" / "rules.yaml"
    cases.write_text(
        "cases:\n"
        "  - name: two rules\n"
        "    tier: public\n"
        "    request: {prompt: A rifle in the anime style, seconds: 4}\n"
        "    expect: {decision: flag, rules: [weapons]}\n"
    )
    result = run("policy", "test", str(folder))
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == (
        f"{cases}:2: case 'two rules' (public): expected flag with rules [weapons],"
        " got flag with rules [weapons, stylised-animation]"
    )


def test_cases_from_another_path(folder: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "one.yaml"
    elsewhere.write_text(CASES.split("  - name: wrong on purpose", maxsplit=1)[0])
    result = run("policy", "test", str(folder), "--cases", str(elsewhere))
    assert result.returncode == 0, result.stdout
    assert "4 case(s) in 1 file(s), 0 failing" in result.stdout


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "cases:\n  - name: x\n    tier: public\n    request: {prompt: a}\n"
            "    expect: {decision: block}\n",
            5,
            "case 'x': expect.decision must be 'allow', 'flag', 'hold', 'deny' or 'refused'"
            " (got 'block')",
        ),
        (
            "cases:\n  - name: x\n    tier: public\n    colour: red\n    request: {prompt: a}\n"
            "    expect: {decision: allow}\n",
            4,
            "case 'x': unknown key 'colour' (allowed: expect, moderation, name, request, tier)",
        ),
        (
            "cases:\n  - name: x\n    tier: public\n    request: {prompt: a, length: 4}\n"
            "    expect: {decision: allow}\n",
            4,
            "case 'x': unknown key 'length' in request (allowed: input_reference, model,"
            " prompt, remix, seconds, size, transfer_encoding)",
        ),
        (
            "cases:\n  - name: x\n    tier: everyone\n    request: {prompt: a}\n"
            "    expect: {decision: allow}\n",
            3,
            "case 'x': unknown tier 'everyone' (tiers: invited_artists, public, studios)",
        ),
        (
            "cases:\n  - name: x\n    tier: public\n    request: {prompt: a}\n"
            "    expect:\n      decision: allow\n      rules: [weapons, no-such-rule]\n",
            7,
            "case 'x': expects unknown rule 'no-such-rule'",
        ),
        (
            "cases:\n  - name: x\n    tier: public\n    request: {prompt: a}\n"
            "    moderation: {gore: 0.9}\n    expect: {decision: allow}\n",
            5,
            "case 'x': moderation names 'gore', which is no moderation category",
        ),
        ("cases: []\n", 1, "cases must not be empty"),
        ("cases:\n  - name: x\n    tier: [public\n", 4, "invalid YAML"),
    ],
)
def test_an_invalid_case_file_is_refused_with_file_and_line(
    folder: Path, text: str, line: int, message: str
) -> None:
    cases = folder / "tests" / "bad.yaml"
    cases.write_text(text)
    result = run("policy", "test", str(folder))
    assert result.returncode == 1
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"{cases}:{line}: {message}"), first


def test_no_cases_is_an_error(folder: Path) -> None:
    result = run("policy", "test", str(folder))
    assert result.returncode == 1
    assert "no test cases" in result.stderr


def test_case_files_are_never_read_as_policy_files(folder: Path) -> None:
    """A case folder changes neither the policy's validity nor its version."""
    before = json.loads(run("policy", "check", str(folder), "--json").stdout)
    (folder / "tests" / "mine.yaml").write_text(CASES)
    after = json.loads(run("policy", "check", str(folder), "--json").stdout)
    assert after == before
    assert after["valid"] is True
