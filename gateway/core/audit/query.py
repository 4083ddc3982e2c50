"""Which audit records a reviewer asked for: filters, a time range, and a fast pass
over raw lines.

A `Query` holds the filters of `phasegate audit search` (and export, stats): values of
one field are alternatives (OR), different fields must all hold (AND). `matches` is
the exact test on a parsed record.

`select` applies a query to the log's raw lines, given as blocks of whole lines. The
lines are canonical JSON (orjson, sorted keys, no whitespace: see `chain.canonical`),
so a record can have `"principal": "alice"` only if its line holds the bytes
`"principal":"alice"`. Those bytes are searched for across a whole block at C speed,
and only the lines holding them are parsed and then checked exactly (the bytes may
also occur inside another field, in `params` say). The prompt filter is
case-insensitive, so its bytes are searched for in a lower-cased copy of the block,
and lines with non-ASCII bytes are parsed whatever they hold.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NamedTuple

import orjson

from gateway.core.audit.chain import CHECKPOINT
from gateway.core.audit.records import Record, format_time
from gateway.core.units import parse_duration

_DURATION_SHAPE: Final = re.compile(r"\d+(?:\.\d+)?(?:ms|s|m|h|d)")
# ASCII letters lower-cased, every non-ASCII byte turned into `_MARK`, the rest kept.
_MARK: Final = b"\x80"
_FOLD: Final = bytes(range(65)) + bytes(range(97, 123)) + bytes(range(91, 128)) + _MARK * 128
# How much of a block is sampled to guess which filter's bytes are the rarest.
_SAMPLE_BYTES: Final = 1 << 20


# Times


def parse_instant(text: str, now: float) -> str:
    """A `--since` / `--until` value as a record time (`2026-11-26T09:30:00.000000Z`).

    RFC 3339 with an offset (`2026-11-26T09:30:00Z`, `…+01:00`), a bare date (its
    00:00 UTC), or a duration (`90s`, `15m`, `12h`, `7d`) meaning that long before
    `now`. A time without an offset is refused: whose local time it is would be a guess.
    """
    stripped = text.strip()
    if _DURATION_SHAPE.fullmatch(stripped):
        return format_time(now - parse_duration(stripped))
    try:
        moment = datetime.fromisoformat(stripped)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a time (RFC 3339, e.g. 2026-11-26T09:30:00Z) "
            "nor a duration ago (e.g. 90s, 15m, 12h, 7d)"
        ) from None
    if "T" not in stripped.upper() and " " not in stripped:
        moment = moment.replace(tzinfo=UTC)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset; add Z (UTC) or one such as +01:00")
    return _record_time(moment)


def shifted(stamp: str, seconds: float) -> str:
    """A record time moved by `seconds` (negative: earlier)."""
    return _record_time(datetime.fromisoformat(stamp) + timedelta(seconds=seconds))


def _record_time(moment: datetime) -> str:
    # As `records.format_time` writes it, without a detour through Unix seconds.
    return moment.astimezone(UTC).isoformat(timespec="microseconds").removesuffix("+00:00") + "Z"


# Filters


@dataclass(frozen=True, slots=True)
class Query:
    """What to select. Empty filters select everything; without `events`, checkpoints
    (the chain's own bookkeeping) are left out unless `checkpoints` is set.

    `since` is inclusive, `until` exclusive, both record times (see `parse_instant`).
    `text` is a case-insensitive substring of the prompt.
    """

    principals: frozenset[str] = frozenset()
    tiers: frozenset[str] = frozenset()
    decisions: frozenset[str] = frozenset()
    rules: frozenset[str] = frozenset()
    routes: frozenset[str] = frozenset()
    events: frozenset[str] = frozenset()
    text: str | None = None
    since: str | None = None
    until: str | None = None
    checkpoints: bool = False
    _folded: str | None = field(init=False, repr=False, compare=False)
    _wanted: tuple[tuple[str, frozenset[str]], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.text is not None and not self.text:
            raise ValueError("the prompt text to look for is empty")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError(
                f"the range starts ({self.since}) no earlier than it ends ({self.until})"
            )
        object.__setattr__(self, "_folded", None if self.text is None else self.text.casefold())
        fields = (
            ("principal", self.principals),
            ("tier", self.tiers),
            ("decision", self.decisions),
            ("route", self.routes),
        )
        object.__setattr__(self, "_wanted", tuple((n, v) for n, v in fields if v))

    def matches(self, record: Mapping[str, Any]) -> bool:
        # Called once per parsed line, so the checks a query lacks are skipped early.
        get = record.get
        event = get("event")
        if self.events:
            if event not in self.events:
                return False
        elif event == CHECKPOINT and not self.checkpoints:
            return False
        for name, wanted in self._wanted:
            if get(name) not in wanted:
                return False
        if self.rules and not self._rules_match(get("rules")):
            return False
        if self._folded is not None and not self._prompt_matches(get("prompt")):
            return False
        return (self.since is None and self.until is None) or self._time_matches(get("time"))

    def _rules_match(self, hits: Any) -> bool:
        return any(isinstance(hit, dict) and hit.get("id") in self.rules for hit in hits or ())

    def _prompt_matches(self, prompt: Any) -> bool:
        return (
            isinstance(prompt, str)
            and self._folded is not None
            and (self._folded in prompt.casefold())
        )

    def _time_matches(self, time: Any) -> bool:
        return (
            isinstance(time, str)
            and (self.since is None or time >= self.since)
            and (self.until is None or time < self.until)
        )


# Selection over raw lines


class Match(NamedTuple):
    """A selected record and its line exactly as stored (no newline)."""

    line: bytes
    record: Record


def select(blocks: Iterable[bytes], query: Query) -> Iterator[Match]:
    """The records of `blocks` (each one or more whole lines, `\\n`-separated) that
    match `query`, in order. Lines that are not JSON objects (a torn last line, say)
    are passed over: telling those apart is `audit verify`'s job."""
    plan = _Plan.of(query)
    loads = orjson.loads
    for block in blocks:
        for line in plan.candidates(block):
            try:
                record = loads(line)
            except orjson.JSONDecodeError:
                continue
            if type(record) is dict and query.matches(record):
                yield Match(line, record)


def _field_bytes(name: str, values: Iterable[str]) -> tuple[bytes, ...]:
    key = orjson.dumps(name) + b":"
    return tuple(sorted(key + orjson.dumps(value) for value in values))


@dataclass(frozen=True, slots=True)
class _Plan:
    """The byte pre-checks of a query: every group must have one of its byte strings
    in a line (exact fields), and the prompt text when there is one."""

    groups: tuple[tuple[bytes, ...], ...]
    has_text: bool
    # The JSON form of the case-folded text, lower-cased; None when the text is not
    # ASCII, so that no ASCII line can match it.
    text: bytes | None

    @classmethod
    def of(cls, query: Query) -> _Plan:
        groups = [
            _field_bytes(name, values)
            for name, values in (
                ("principal", query.principals),
                ("tier", query.tiers),
                ("decision", query.decisions),
                ("route", query.routes),
                ("event", query.events),
                ("id", query.rules),
            )
            if values
        ]
        text: bytes | None = None
        if query.text is not None and query.text.casefold().isascii():
            text = orjson.dumps(query.text.casefold())[1:-1].translate(_FOLD)
        return cls(tuple(groups), query.text is not None, text)

    def candidates(self, block: bytes) -> Iterable[bytes]:
        if self.groups:
            driver = min(self.groups, key=lambda group: _estimate(block, group))
            if _most_lines(block, driver):
                # Finding each occurrence would cost more than splitting the block.
                return self._checked(_lines(block), self.groups)
            others = [group for group in self.groups if group is not driver]
            spans = _spans(block, block, driver)
            return self._checked((block[start:end] for start, end in spans), others)
        if self.has_text:
            return (block[start:end] for start, end in self._text_spans(block))
        return _lines(block)

    def _checked(
        self, lines: Iterable[bytes], groups: Iterable[tuple[bytes, ...]]
    ) -> Iterator[bytes]:
        needles = [group[0] for group in groups if len(group) == 1]
        alternatives = [group for group in groups if len(group) > 1]
        text = self.has_text
        # The common shapes first: the loop runs once per line of the log.
        if not alternatives and not text and len(needles) <= 1:
            if not needles:
                yield from lines
                return
            needle = needles[0]
            for line in lines:
                if needle in line:
                    yield line
            return
        for line in lines:
            if (
                all(needle in line for needle in needles)
                and all(any(n in line for n in group) for group in alternatives)
                and (not text or self._text_may_match(line))
            ):
                yield line

    def _text_spans(self, block: bytes) -> list[tuple[int, int]]:
        # Lower-casing bytes is exact for ASCII lines only (str.casefold maps a few
        # non-ASCII letters to ASCII ones, e.g. the Kelvin sign to k), so every line
        # with a non-ASCII byte is a candidate too. One pass lower-cases the block and
        # turns each non-ASCII byte into one marker byte, found again at memchr speed.
        folded = block.translate(_FOLD)
        spans: dict[int, int] = {}
        if self.text is not None:
            spans.update(_spans(block, folded, (self.text,)))
        if not block.isascii():
            spans.update(_spans(block, folded, (_MARK,)))
        return sorted(spans.items())

    def _text_may_match(self, line: bytes) -> bool:
        if not line.isascii():
            return True
        return self.text is not None and self.text in line.translate(_FOLD)


def _estimate(block: bytes, group: tuple[bytes, ...]) -> int:
    return sum(block.count(needle, 0, _SAMPLE_BYTES) for needle in group)


def _most_lines(block: bytes, group: tuple[bytes, ...]) -> bool:
    """Whether the group's bytes are in most lines of the block's sample."""
    return 2 * _estimate(block, group) > block.count(b"\n", 0, _SAMPLE_BYTES)


def _line_at(block: bytes, at: int) -> tuple[int, int]:
    end = block.find(b"\n", at)
    return block.rfind(b"\n", 0, at) + 1, len(block) if end < 0 else end


def _spans(block: bytes, haystack: bytes, needles: Iterable[bytes]) -> list[tuple[int, int]]:
    """(start, end) of every line of `block` holding one of `needles` in `haystack`
    (the block itself or a same-length transform of it), in order."""
    spans: dict[int, int] = {}
    find = haystack.find
    for needle in needles:
        at = find(needle)
        while at >= 0:
            start, end = _line_at(block, at)
            spans[start] = end
            at = find(needle, end)
    return sorted(spans.items())


def _lines(block: bytes) -> list[bytes]:
    lines = block.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    return lines
