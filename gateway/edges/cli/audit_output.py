"""Printing audit records: a table for people, JSON Lines or CSV for programs.

Writers take records one at a time and keep nothing, so a search over millions of
records prints as it goes; the table has fixed column widths for the same reason.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from typing import IO, Any, Final, Protocol

from gateway.core.audit.query import Match
from gateway.core.audit.report import CSV_COLUMNS, TABLE_COLUMNS, csv_row, table_row
from gateway.edges.cli.output import print_table

# 0: as wide as the value (the last column).
_WIDTHS: Final[Mapping[str, int]] = {
    "time": 20,
    "event": 18,
    "principal": 20,
    "tier": 15,
    "decision": 12,
    "route": 22,
    "rules": 24,
    "detail": 0,
}


class RecordWriter(Protocol):
    def write(self, match: Match) -> None: ...

    def flush(self) -> None: ...


class JsonLinesWriter:
    """Each record's line exactly as stored: what was chained, byte for byte."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream

    def write(self, match: Match) -> None:
        self._stream.write(match.line)
        self._stream.write(b"\n")

    def flush(self) -> None:
        self._stream.flush()


class TableWriter:
    def __init__(self, stream: IO[str], *, header: bool = True) -> None:
        self._stream = stream
        if header:
            self._stream.write(_row(list(TABLE_COLUMNS)))

    def write(self, match: Match) -> None:
        self._stream.write(_row(table_row(match.record)))

    def flush(self) -> None:
        self._stream.flush()


class CsvWriter:
    """RFC 4180 CSV under a fixed header (`report.CSV_COLUMNS`)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._writer = csv.writer(stream)
        self._writer.writerow(CSV_COLUMNS)

    def write(self, match: Match) -> None:
        self._writer.writerow(csv_row(match.record))

    def flush(self) -> None:
        self._stream.flush()


def _fit(value: str, width: int) -> str:
    if not width:
        return value
    if len(value) > width:
        return value[: width - 1] + "…"
    return value.ljust(width)


def _row(cells: list[str]) -> str:
    line = "  ".join(
        _fit(value, _WIDTHS[name]) for name, value in zip(TABLE_COLUMNS, cells, strict=True)
    )
    return line.rstrip() + "\n"


def print_stats(document: Mapping[str, Any]) -> None:
    """`audit stats` for people: totals, then one small table per count."""
    span = f"  {document['first_time']} … {document['last_time']}" if document["records"] else ""
    width = len(str(document["records"]))
    print(f"records   {document['records']:>{width}}{span}")
    print(f"requests  {document['requests']:>{width}}")
    for key, title in (
        ("by_event", "event"),
        ("by_decision", "decision"),
        ("by_tier", "tier"),
        ("by_rule", "rule"),
        ("by_phase", "phase"),
        ("by_route", "route"),
    ):
        counts: Mapping[str, int] = document[key]
        print()
        if counts:
            print_table([{title: name, "count": n} for name, n in counts.items()], [title, "count"])
        else:
            print(f"{title}: none")
