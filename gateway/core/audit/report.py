"""Selected audit records as reviewers read them: counts, CSV rows and table cells.

Counts (`Stats`) are per event over every record, and per decision, tier, rule, phase
and route over generation requests only: each request is decided by exactly one
record, its `generation_request` (allow, flag, hold) or its `refusal` (deny,
rate_limited, refused), while its `generation_outcome` repeats those fields and would
count it twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any, Final

import orjson

DECIDING_EVENTS: Final = frozenset({"generation_request", "refusal"})
# The key under which a record without the field (null) is counted.
NONE_KEY: Final = "(none)"

# The common and request fields, in a fixed order; whatever else a record holds (an
# admin event's own fields, fields added later) goes to `other` as one JSON object.
CSV_COLUMNS: Final = (
    "time",
    "event",
    "request_id",
    "principal",
    "client_id",
    "tier",
    "phase",
    "client_address",
    "method",
    "route",
    "model",
    "prompt",
    "params",
    "input_reference",
    "decision",
    "rules",
    "policy_version",
    "limits",
    "moderation",
    "review_id",
    "status",
    "code",
    "upstream_status",
    "job_id",
    "latency_ms",
    "request_bytes",
    "response_bytes",
    "error",
    "actor",
    "schema",
    "prev_hash",
    "hash",
    "other",
)
_COLUMNS_BUT_OTHER: Final = CSV_COLUMNS[:-1]
_IN_COLUMNS: Final = frozenset(_COLUMNS_BUT_OTHER)
# Where the schema puts objects and arrays; `csv_row` checks the other cells too.
_NESTED_AT: Final = tuple(
    CSV_COLUMNS.index(name)
    for name in ("params", "input_reference", "rules", "limits", "moderation")
)
_PLAIN: Final = frozenset({str, int, float, type(None)})

TABLE_COLUMNS: Final = (
    "time",
    "event",
    "principal",
    "tier",
    "decision",
    "route",
    "rules",
    "detail",
)
# What tells one record of an event from another, beside the table's columns.
_DETAIL_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "generation_request": ("review_id",),
    "generation_outcome": ("upstream_status", "job_id", "error", "review_id"),
    "refusal": ("status", "code"),
    "job_access": ("action", "job_id", "status"),
    "grant": ("actor", "client_id", "expires_at"),
    "revoke": ("actor", "client_id", "jti", "revoked"),
    "phase_change": ("actor", "previous_phase", "phase"),
    "key_rotation": ("actor", "kid"),
    "policy_reload": ("actor", "outcome", "policy_version"),
    "checkpoint": ("segment", "records", "kid"),
}
# For events without an entry above (those added after it).
_DETAIL_FALLBACK: Final = ("actor", "review_id")
_EXCERPT: Final = 60


def _counted(counter: Counter[str]) -> dict[str, int]:
    """Largest count first, then by name: the order a reader scans for."""
    return dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))


def _key(value: Any) -> str:
    return NONE_KEY if value is None else str(value)


class Stats:
    """Counts over records added one by one, as one JSON-ready document."""

    def __init__(self) -> None:
        self.records = 0
        self.requests = 0
        self.first_time: str | None = None
        self.last_time: str | None = None
        self.events: Counter[str] = Counter()
        self.decisions: Counter[str] = Counter()
        self.tiers: Counter[str] = Counter()
        self.rules: Counter[str] = Counter()
        self.phases: Counter[str] = Counter()
        self.routes: Counter[str] = Counter()

    def add(self, record: Mapping[str, Any]) -> None:
        self.records += 1
        event = record.get("event")
        self.events[_key(event)] += 1
        time = record.get("time")
        if isinstance(time, str):
            if self.first_time is None or time < self.first_time:
                self.first_time = time
            if self.last_time is None or time > self.last_time:
                self.last_time = time
        if event not in DECIDING_EVENTS:
            return
        self.requests += 1
        self.decisions[_key(record.get("decision"))] += 1
        self.tiers[_key(record.get("tier"))] += 1
        self.phases[_key(record.get("phase"))] += 1
        self.routes[_key(record.get("route"))] += 1
        # A request counts once per rule, however the rule matched.
        ids = {hit.get("id") for hit in record.get("rules") or () if isinstance(hit, dict)}
        self.rules.update(_key(rule_id) for rule_id in ids)

    def document(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "first_time": self.first_time,
            "last_time": self.last_time,
            "by_event": _counted(self.events),
            "requests": self.requests,
            "by_decision": _counted(self.decisions),
            "by_tier": _counted(self.tiers),
            "by_rule": _counted(self.rules),
            "by_phase": _counted(self.phases),
            "by_route": _counted(self.routes),
        }


# CSV


def cell(value: Any) -> str:
    """One CSV cell: empty for null, JSON spelling for booleans, compact JSON (sorted
    keys) for objects and arrays, the value itself otherwise."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    kind = type(value)
    if kind is dict or kind is list or kind is bool:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return str(value)


def csv_row(record: Mapping[str, Any]) -> list[Any]:
    """The record's cells under `CSV_COLUMNS`, for `csv.writer` (which writes None as
    an empty cell and numbers as `str` does)."""
    # Once per exported record: the cells are built with as few Python steps as can be.
    row: list[Any] = list(map(record.get, _COLUMNS_BUT_OTHER))
    for index in _NESTED_AT:
        if row[index] is not None:
            row[index] = cell(row[index])
    if not _PLAIN.issuperset(map(type, row)):  # a boolean or an object elsewhere
        row = [cell(value) for value in row]
    extra = record.keys() - _IN_COLUMNS
    row.append(cell({name: record[name] for name in extra}) if extra else "")
    return row


# Table


def excerpt(text: str, width: int = _EXCERPT) -> str:
    """The text on one line, cut to `width` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def detail(record: Mapping[str, Any]) -> str:
    """What tells this record apart: its event's own fields, then the prompt."""
    parts = [
        f"{name}={value}"
        for name in _DETAIL_FIELDS.get(str(record.get("event")), _DETAIL_FALLBACK)
        if (value := record.get(name)) is not None
    ]
    prompt = record.get("prompt")
    if isinstance(prompt, str):
        parts.append(repr(excerpt(prompt)))
    return " ".join(parts)


def table_row(record: Mapping[str, Any]) -> list[str]:
    """The record's cells under `TABLE_COLUMNS` ("-" where there is no value)."""
    time = record.get("time")
    rules = record.get("rules")
    ids = [str(hit.get("id")) for hit in rules if isinstance(hit, dict)] if rules else []
    cells = {
        # Seconds are precise enough to read by; the stored record keeps microseconds.
        "time": time[:19] + "Z" if isinstance(time, str) and len(time) >= 19 else time,
        "event": record.get("event"),
        "principal": record.get("principal"),
        "tier": record.get("tier"),
        "decision": record.get("decision"),
        "route": record.get("route"),
        "rules": ",".join(ids) or None,
        "detail": detail(record) or None,
    }
    return ["-" if cells[name] is None else str(cells[name]) for name in TABLE_COLUMNS]
