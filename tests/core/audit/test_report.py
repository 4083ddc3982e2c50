"""Counts, CSV rows and table cells of selected audit records."""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson

from gateway.core.audit import records
from gateway.core.audit.chain import GENESIS, checkpoint, link
from gateway.core.audit.report import (
    CSV_COLUMNS,
    NONE_KEY,
    TABLE_COLUMNS,
    Stats,
    csv_row,
    excerpt,
    table_row,
)
from gateway.core.policy.decision import Action, RuleHit

NOW = 1_795_000_000.0

WEAPONS = RuleHit("weapons", Action.FLAG, shadow=False)
TRIAL = RuleHit("deepfake-terms-trial", Action.DENY, shadow=True)


def _request(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "time": NOW,
        "request_id": "req-1",
        "principal": "alice",
        "client_id": "client-1",
        "tier": "studios",
        "phase": "limited_preview",
        "client_address": None,
        "method": "POST",
        "route": "/v1/videos",
        "model": "sora-2",
        "prompt": "A lighthouse in fog",
        "params": {"seconds": "4", "size": "720x1280"},
        "decision": "allow",
        "policy_version": "v1",
    }
    return records.generation_request(**{**fields, **overrides})


def _outcome(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "time": NOW + 1,
        "request_id": "req-1",
        "principal": "alice",
        "client_id": "client-1",
        "tier": "studios",
        "route": "/v1/videos",
        "decision": "allow",
        "upstream_status": 200,
        "job_id": "video_1",
        "latency_ms": 12.5,
        "request_bytes": 80,
        "response_bytes": 300,
    }
    return records.generation_outcome(**{**fields, **overrides})


def _refusal(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "time": NOW + 2,
        "request_id": "req-2",
        "principal": None,
        "client_id": None,
        "tier": None,
        "phase": None,
        "client_address": None,
        "method": "POST",
        "route": "/v1/videos",
        "decision": "refused",
        "status": 401,
        "code": "invalid_token",
    }
    return records.refusal(**{**fields, **overrides})


def _grant() -> dict[str, Any]:
    return records.grant(
        time=NOW + 3, actor="ops", principal="zed", tier="public", client_id="c9", expires_at=None
    )


# Stats


def test_stats_count_events_over_every_record_and_the_rest_per_request() -> None:
    stats = Stats()
    for record in (
        _request(decision="flag", rules=(WEAPONS, TRIAL)),
        _outcome(decision="flag"),
        _request(request_id="req-3", tier="public", rules=(WEAPONS,)),
        _outcome(request_id="req-3", tier="public"),
        _refusal(),
        _grant(),
    ):
        stats.add(record)
    document = stats.document()
    assert document["records"] == 6
    assert document["requests"] == 3
    assert document["by_event"] == {
        "generation_outcome": 2,
        "generation_request": 2,
        "grant": 1,
        "refusal": 1,
    }
    # The outcome repeats its request's decision and tier: counted once, from the request.
    assert document["by_decision"] == {"allow": 1, "flag": 1, "refused": 1}
    assert document["by_tier"] == {NONE_KEY: 1, "public": 1, "studios": 1}
    assert document["by_rule"] == {"weapons": 2, "deepfake-terms-trial": 1}
    assert document["by_phase"] == {"limited_preview": 2, NONE_KEY: 1}
    assert document["by_route"] == {"/v1/videos": 3}
    assert document["first_time"] == records.format_time(NOW)
    assert document["last_time"] == records.format_time(NOW + 3)


def test_a_rule_matching_twice_counts_once_for_its_request() -> None:
    stats = Stats()
    stats.add(_request(rules=(WEAPONS, WEAPONS)))
    assert stats.document()["by_rule"] == {"weapons": 1}


def test_empty_stats_are_zero_and_serialise() -> None:
    document = Stats().document()
    assert document["records"] == 0
    assert document["first_time"] is None
    assert orjson.loads(orjson.dumps(document)) == document


# CSV


def _cells(record: dict[str, Any]) -> dict[str, str]:
    """The record's row as a CSV file holds it, read back by the csv module."""
    text = io.StringIO()
    csv.writer(text).writerows([CSV_COLUMNS, csv_row(record)])
    header, row = csv.reader(io.StringIO(text.getvalue(), newline=""))
    assert header == list(CSV_COLUMNS)
    return dict(zip(header, row, strict=True))


def test_csv_rows_have_one_cell_per_column_and_nested_values_as_compact_json() -> None:
    record = link(_request(rules=(WEAPONS,), prompt='say "hi", then\nleave'), GENESIS)
    assert len(csv_row(record)) == len(CSV_COLUMNS)
    cells = _cells(record)
    assert cells["params"] == '{"seconds":"4","size":"720x1280"}'
    assert cells["rules"] == '[{"action":"flag","id":"weapons","shadow":false}]'
    assert cells["client_address"] == ""
    assert cells["input_reference"] == ""
    assert cells["prompt"] == 'say "hi", then\nleave'
    assert cells["schema"] == "1"
    assert cells["hash"] == record["hash"]
    assert cells["other"] == ""


def test_fields_without_a_column_go_to_other() -> None:
    cells = _cells(_grant())
    assert cells["principal"] == "zed"
    assert cells["actor"] == "ops"
    assert orjson.loads(cells["other"]) == {"expires_at": None}
    outcome = _cells(_outcome())
    assert (outcome["upstream_status"], outcome["latency_ms"]) == ("200", "12.5")


def test_unexpected_shapes_are_still_spelled_as_json() -> None:
    """A boolean or an object where the schema has none (a field changed, a forged
    record) is written as JSON, not as Python spells it."""
    odd = {**_request(), "status": True, "code": {"nested": [1, None]}, "zz": False}
    cells = _cells(odd)
    assert (cells["status"], cells["code"]) == ("true", '{"nested":[1,null]}')
    assert orjson.loads(cells["other"]) == {"zz": False}


# Table


def test_table_rows_show_the_columns_a_reviewer_scans() -> None:
    row = dict(zip(TABLE_COLUMNS, table_row(_request(rules=(WEAPONS, TRIAL))), strict=True))
    assert row["time"] == "2026-11-18T11:06:40Z"
    assert row["rules"] == "weapons,deepfake-terms-trial"
    assert row["detail"] == "'A lighthouse in fog'"
    refused = dict(zip(TABLE_COLUMNS, table_row(_refusal()), strict=True))
    assert refused["principal"] == "-"
    assert refused["detail"] == "status=401 code=invalid_token"
    granted = dict(zip(TABLE_COLUMNS, table_row(_grant()), strict=True))
    assert granted["detail"] == "actor=ops client_id=c9"
    closing = checkpoint(time=NOW, segment="audit-x.jsonl", records=3, last_hash="h", signer=None)
    assert "segment=audit-x.jsonl records=3" in table_row(closing)[-1]


def test_excerpts_are_one_line_and_cut_with_an_ellipsis() -> None:
    assert excerpt("a\nb\t c") == "a b c"
    cut = excerpt("x" * 100, width=10)
    assert cut == "x" * 9 + "…"
