"""Filters, time ranges, and the byte pre-checks of `select`, which must never drop a
record that `Query.matches` accepts."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.core.audit import records
from gateway.core.audit.chain import GENESIS, canonical, checkpoint, link
from gateway.core.audit.query import Match, Query, parse_instant, select, shifted
from gateway.core.policy.decision import Action, RuleHit

NOW = 1_795_000_000.0  # 2026-11-18T11:06:40Z


def _request(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "time": NOW,
        "request_id": "req-1",
        "principal": "alice",
        "client_id": "client-1",
        "tier": "studios",
        "phase": "limited_preview",
        "client_address": "10.0.0.1",
        "method": "POST",
        "route": "/v1/videos",
        "model": "sora-2",
        "prompt": "A lighthouse in fog",
        "params": {"seconds": "4"},
        "decision": "allow",
        "policy_version": "v1",
    }
    return records.generation_request(**{**fields, **overrides})


def _refusal(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "time": NOW,
        "request_id": "req-2",
        "principal": "bob",
        "client_id": "client-2",
        "tier": "public",
        "phase": "general_availability",
        "client_address": None,
        "method": "POST",
        "route": "/v1/videos",
        "prompt": "the prime minister at a harbour",
        "decision": "deny",
        "status": 403,
        "code": "policy_violation",
        "rules": (RuleHit("no-real-public-figures", Action.DENY, shadow=False),),
    }
    return records.refusal(**{**fields, **overrides})


def _lines(*items: dict[str, Any]) -> list[bytes]:
    """Records chained as a segment holds them: canonical lines."""
    lines, last = [], GENESIS
    for item in items:
        linked = link(item, last)
        lines.append(canonical(linked))
        last = linked["hash"]
    return lines


def _block(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in lines)


def _selected(query: Query, lines: list[bytes], *, block_lines: int = 1000) -> list[bytes]:
    blocks = [_block(lines[i : i + block_lines]) for i in range(0, len(lines), block_lines)]
    return [match.line for match in select(blocks, query)]


# Times


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-26T09:30:00Z", "2026-11-26T09:30:00.000000Z"),
        ("2026-11-26T09:30:00.25Z", "2026-11-26T09:30:00.250000Z"),
        ("2026-11-26T10:30:00+01:00", "2026-11-26T09:30:00.000000Z"),
        ("2026-11-26", "2026-11-26T00:00:00.000000Z"),
        ("90s", "2026-11-18T11:05:10.000000Z"),
        ("15m", "2026-11-18T10:51:40.000000Z"),
        ("12h", "2026-11-17T23:06:40.000000Z"),
        ("7d", "2026-11-11T11:06:40.000000Z"),
    ],
)
def test_instants_are_record_times(text: str, expected: str) -> None:
    """Absolute times are normalised to the records' fixed-width form; durations count back."""
    assert parse_instant(text, NOW) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("yesterday", "neither a time"),
        ("-5m", "neither a time"),
        ("", "neither a time"),
        ("2026-11-26T09:30:00", "no UTC offset"),
        ("0s", "longer than zero"),
    ],
)
def test_bad_instants_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_instant(text, NOW)


def test_shifted_moves_a_record_time() -> None:
    assert shifted("2026-11-26T00:00:00.000000Z", -60) == "2026-11-25T23:59:00.000000Z"


def test_a_range_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="no earlier than"):
        Query(since="2026-11-26T10:00:00.000000Z", until="2026-11-26T09:00:00.000000Z")


def test_empty_prompt_text_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        Query(text="")


# Query.matches


def test_each_filter_selects_on_its_own_field() -> None:
    request, refusal = _request(), _refusal()
    cases = [
        (Query(principals=frozenset({"alice"})), True, False),
        (Query(tiers=frozenset({"public"})), False, True),
        (Query(decisions=frozenset({"deny"})), False, True),
        (Query(rules=frozenset({"no-real-public-figures"})), False, True),
        (Query(routes=frozenset({"/v1/videos"})), True, True),
        (Query(routes=frozenset({"/v1/videos/{id}/remix"})), False, False),
        (Query(events=frozenset({"refusal"})), False, True),
        (Query(text="LIGHTHOUSE"), True, False),
        (Query(text="Prime Minister"), False, True),
    ]
    for query, on_request, on_refusal in cases:
        assert (query.matches(request), query.matches(refusal)) == (on_request, on_refusal), query


def test_values_of_one_field_are_alternatives_and_fields_all_apply() -> None:
    request, refusal = _request(), _refusal()
    either = Query(principals=frozenset({"alice", "bob"}))
    assert either.matches(request)
    assert either.matches(refusal)
    both = Query(principals=frozenset({"alice", "bob"}), decisions=frozenset({"deny"}))
    assert not both.matches(request)
    assert both.matches(refusal)


def test_rule_filter_looks_at_every_matching_rule_shadow_included() -> None:
    hits = (RuleHit("weapons", Action.FLAG, False), RuleHit("trial", Action.DENY, True))
    record = _request(decision="flag", rules=hits)
    assert Query(rules=frozenset({"trial"})).matches(record)
    assert Query(rules=frozenset({"weapons"})).matches(record)
    assert not Query(rules=frozenset({"other"})).matches(record)


def test_checkpoints_are_left_out_unless_asked_for() -> None:
    closing = checkpoint(time=NOW, segment="s", records=0, last_hash=GENESIS, signer=None)
    assert not Query().matches(closing)
    assert Query(checkpoints=True).matches(closing)
    assert Query(events=frozenset({"checkpoint"})).matches(closing)
    assert not Query(events=frozenset({"grant"})).matches(closing)


def test_time_range_includes_its_start_and_excludes_its_end() -> None:
    record = _request(time=NOW)
    stamp = record["time"]
    assert Query(since=stamp).matches(record)
    assert not Query(until=stamp).matches(record)
    assert Query(since=shifted(stamp, -1), until=shifted(stamp, 1)).matches(record)
    assert not Query(since=shifted(stamp, 0.000001)).matches(record)


def test_text_ignores_case_beyond_ascii_and_needs_a_prompt() -> None:
    assert Query(text="CAFÉ").matches(_request(prompt="un café à Paris"))
    # U+212A KELVIN SIGN folds to an ASCII k.
    assert Query(text="kite").matches(_request(prompt="a \u212aite over the dunes"))
    assert Query(text="straße").matches(_request(prompt="STRASSE at night"))
    grant = records.grant(
        time=NOW, actor="ops", principal="alice", tier="studios", client_id="c", expires_at=None
    )
    assert not Query(text="alice").matches(grant)


# select: the byte pre-checks


def test_select_returns_the_stored_line_and_the_record() -> None:
    lines = _lines(_request(), _refusal())
    [match] = select([_block(lines)], Query(principals=frozenset({"bob"})))
    assert isinstance(match, Match)
    assert match.line == lines[1]
    assert match.record["principal"] == "bob"


def test_bytes_found_elsewhere_in_a_line_do_not_select_it() -> None:
    """`"principal":"bob"` inside params passes the pre-check, not the exact check."""
    decoy = _request(params={"principal": "bob", "decision": "deny", "id": "weapons"})
    lines = _lines(decoy, _refusal())
    for query in (
        Query(principals=frozenset({"bob"})),
        Query(decisions=frozenset({"deny"})),
        Query(rules=frozenset({"no-real-public-figures"})),
    ):
        assert _selected(query, lines) == [lines[1]]
    assert _selected(Query(rules=frozenset({"weapons"})), lines) == []


def test_prompts_with_quotes_backslashes_and_newlines_are_found() -> None:
    prompt = 'She said "ROLL" \\ then\nthe \tcamera'
    lines = _lines(_request(prompt=prompt), _request(prompt="nothing here"))
    for text in ('said "roll"', "\\ THEN\nthe", "\tcamera", '"'):
        assert _selected(Query(text=text), lines) == [lines[0]], text


def test_non_ascii_prompts_and_texts_are_found_whatever_their_case() -> None:
    lines = _lines(
        _request(prompt="Ein Fuchs auf der STRASSE"),
        _request(prompt="un CAFÉ à Paris"),
        _request(prompt="a \u212aite over the dunes"),
        _request(prompt="東京の夜景"),
        _request(prompt="plain ascii"),
    )
    assert _selected(Query(text="straße"), lines) == [lines[0]]
    assert _selected(Query(text="café"), lines) == [lines[1]]
    assert _selected(Query(text="KITE"), lines) == [lines[2]]
    assert _selected(Query(text="夜景"), lines) == [lines[3]]
    # With another filter driving, the text is checked on the candidates only.
    alice = frozenset({"alice"})
    assert _selected(Query(principals=alice, text="KITE"), lines) == [lines[2]]


def test_torn_and_malformed_lines_are_passed_over() -> None:
    lines = _lines(_request(), _refusal())
    blocks = [_block(lines) + b"not json\n[1, 2]\n" + lines[0][:40]]
    assert [m.line for m in select(blocks, Query())] == lines
    assert [m.line for m in select(blocks, Query(text="fog"))] == [lines[0]]


def _random_records(rng: random.Random, count: int) -> Iterator[dict[str, Any]]:
    principals = ["alice", "bob", "ça-va", "dora", 'quote"d']
    prompts = [
        "A lighthouse in FOG",
        "un café à Paris",
        "a rifle on a porch",
        "東京の夜景",
        'a "quoted" \\ word',
        "Kite over the STRASSE",
    ]
    rules = ["weapons", "no-real-public-figures", "stylised-animation"]
    for index in range(count):
        hits = tuple(
            RuleHit(rule, Action.FLAG, rng.random() < 0.3) for rule in rules if rng.random() < 0.3
        )
        # Decoys: filter values hidden in params, where no filter looks.
        params = {"seconds": "4", "principal": rng.choice(principals), "id": rng.choice(rules)}
        time = NOW + index
        kind = rng.random()
        if kind < 0.5:
            yield _request(
                time=time,
                principal=rng.choice(principals),
                tier=rng.choice(["studios", "public"]),
                decision=rng.choice(["allow", "flag", "hold"]),
                rules=hits,
                prompt=rng.choice(prompts),
                params=params,
            )
        elif kind < 0.8:
            yield _refusal(
                time=time,
                principal=rng.choice([*principals, None]),
                decision=rng.choice(["deny", "rate_limited", "refused"]),
                rules=hits,
                prompt=rng.choice([*prompts, None]),
                route=rng.choice(["/v1/videos", "/v1/videos/{id}/remix"]),
            )
        elif kind < 0.95:
            yield records.grant(
                time=time,
                actor="ops",
                principal=rng.choice(principals),
                tier="studios",
                client_id="c",
                expires_at=None,
            )
        else:
            yield checkpoint(time=time, segment="s", records=0, last_hash=GENESIS, signer=None)


def _random_query(rng: random.Random, stamps: list[str]) -> Query:
    def some(values: list[str]) -> frozenset[str]:
        return (
            frozenset(rng.sample(values, rng.randint(1, 2))) if rng.random() < 0.35 else frozenset()
        )

    since = rng.choice(stamps) if rng.random() < 0.2 else None
    return Query(
        principals=some(["alice", "bob", "ça-va", 'quote"d', "nobody"]),
        tiers=some(["studios", "public"]),
        decisions=some(["allow", "flag", "deny", "rate_limited"]),
        rules=some(["weapons", "no-real-public-figures", "stylised-animation"]),
        routes=some(["/v1/videos", "/v1/videos/{id}/remix"]),
        events=some(["generation_request", "refusal", "grant", "checkpoint"]),
        text=rng.choice([None, None, "fog", "CAFÉ", "kite", "strasse", '"quoted"', "夜"]),
        since=since,
        until=rng.choice([None, shifted(since, 50)]) if since else None,
        checkpoints=rng.random() < 0.3,
    )


def test_select_agrees_with_matches_on_random_logs_and_queries() -> None:
    """Whatever the filters and however the lines are cut into blocks, `select` finds
    exactly the records `matches` accepts, in order."""
    rng = random.Random(20261126)  # noqa: S311 - sample data, not secrets
    items = list(_random_records(rng, 400))
    lines = _lines(*items)
    stamps = [item["time"] for item in items]
    for _ in range(300):
        query = _random_query(rng, stamps)
        expected = [line for line, item in zip(lines, items, strict=True) if query.matches(item)]
        assert _selected(query, lines, block_lines=rng.choice([1, 7, 1000])) == expected, query
