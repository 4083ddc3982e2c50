"""`phasegate audit search | tail | export | stats | verify`: reading the audit log back.

Every command reads through the `AuditSource` that `--audit` names. Filters of one
field are alternatives, filters of different fields all apply; see docs/audit.md,
*Reading the log*.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Final

import orjson

from gateway.core.audit.chain import verify_lines
from gateway.core.audit.query import Query, select
from gateway.core.audit.report import Stats
from gateway.core.keys import SigningKey
from gateway.edges.admin import Refused
from gateway.edges.cli.admin_commands import with_store
from gateway.edges.cli.audit_filters import add_filters, limited, query_from
from gateway.edges.cli.audit_output import (
    CsvWriter,
    JsonLinesWriter,
    RecordWriter,
    TableWriter,
    print_stats,
)
from gateway.edges.cli.options import add_setting_flags, settings_from
from gateway.edges.cli.output import print_json
from gateway.edges.settings import Settings, SettingsError
from gateway.ports.audit import AuditSource, AuditUnavailable, open_audit_source
from gateway.ports.audit.reading import matching, newest

_TAIL: Final = 20
_EVERYTHING: Final = Query(checkpoints=True)


def _source(settings: Settings) -> AuditSource:
    try:
        return open_audit_source(settings.audit_url)
    except ValueError as error:
        raise SettingsError(f"--audit: {error}") from None


# Output


def _stdout_bytes() -> IO[bytes]:
    sys.stdout.flush()
    return sys.stdout.buffer


def _created(path: Path, open_file: Callable[[Path], IO[Any]]) -> IO[Any]:
    try:
        return open_file(path)
    except OSError as error:
        raise Refused(f"cannot write {path}: {error.strerror or error}") from None


def _export_writer(args: argparse.Namespace, stack: contextlib.ExitStack) -> RecordWriter:
    output: Path | None = args.output
    if args.format == "csv":
        text: IO[str] = sys.stdout
        if output is not None:
            text = stack.enter_context(
                _created(output, lambda path: path.open("w", newline="", encoding="utf-8"))
            )
        return CsvWriter(text)
    if output is None:
        return JsonLinesWriter(_stdout_bytes())
    return JsonLinesWriter(stack.enter_context(_created(output, lambda path: path.open("wb"))))


# Commands


def cmd_search(args: argparse.Namespace) -> int:
    source = _source(settings_from(args))
    found = limited(matching(source, query_from(args)), args.limit)
    writer: RecordWriter = (
        JsonLinesWriter(_stdout_bytes()) if args.json else TableWriter(sys.stdout)
    )
    count = 0
    for match in found:
        writer.write(match)
        count += 1
    writer.flush()
    if not args.json:
        reached = " (--limit reached)" if args.limit is not None and count == args.limit else ""
        print(f"{count} record(s){reached}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    source = _source(settings_from(args))
    query = query_from(args)
    # Read the log's layout first: a missing log must not leave an empty export behind.
    found = limited(matching(source, query), args.limit)
    with contextlib.ExitStack() as stack:
        writer = _export_writer(args, stack)
        for match in found:
            writer.write(match)
        writer.flush()
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    source = _source(settings_from(args))
    query = query_from(args)
    stats = Stats()
    # Counting needs no order: skip merging the chains by time.
    for match in matching(source, query, ordered=False):
        stats.add(match.record)
    document = {"since": query.since, "until": query.until, **stats.document()}
    if args.json:
        print_json(document)
    else:
        print_stats(document)
    return 0


def cmd_tail(args: argparse.Namespace) -> int:
    source = _source(settings_from(args))
    # Sizes are taken before the last records are read, so nothing falls in between.
    following = source.follow() if args.follow else None
    last = newest(source, _TAIL)
    writer: RecordWriter = (
        TableWriter(sys.stdout) if args.table else JsonLinesWriter(_stdout_bytes())
    )
    for match in last:
        writer.write(match)
    writer.flush()
    if following is None:
        return 0
    shown = {match.line for match in last}
    for line in following:
        if line in shown:
            continue
        for match in select([line + b"\n"], _EVERYTHING):
            writer.write(match)
        writer.flush()
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    source = _source(settings)
    chains = source.chains()
    stored = with_store(settings, lambda store: store.keys())
    public = {key.kid: SigningKey.from_stored(key).public for key in stored}
    failures = 0
    rows: list[dict[str, Any]] = []
    for chain in chains:
        report = verify_lines(list(source.lines(chain)), public_keys=public)
        # Only a chain that its writer may still be appending to may lack its checkpoint.
        unsealed = report.ok and not report.sealed and not chain.may_be_open
        ok = report.ok and not unsealed
        failures += not ok
        rows.append(
            {
                "segment": chain.name,
                "ok": ok,
                "records": report.records,
                "sealed": report.sealed,
                "problem": None
                if ok
                else (
                    "segment is not sealed by a checkpoint, and no writer has it open"
                    if unsealed
                    else f"line {report.position}: {report.kind}: {report.detail}"
                ),
            }
        )
    if args.json:
        for row in rows:
            sys.stdout.write(orjson.dumps(row).decode() + "\n")
    else:
        for row in rows:
            state = "ok" if row["ok"] else "TAMPERED"
            seal = "sealed" if row["sealed"] else "open"
            print(
                f"{row['segment']}: {state}, {row['records']} records, {seal}"
                + (f" — {row['problem']}" if row["problem"] else "")
            )
        print(f"{len(rows)} segment(s), {failures} with problems")
    return 1 if failures else 0


_COMMANDS: Final[dict[str, Callable[[argparse.Namespace], int]]] = {
    "search": cmd_search,
    "tail": cmd_tail,
    "export": cmd_export,
    "stats": cmd_stats,
    "verify": cmd_verify,
}


def _run(args: argparse.Namespace) -> int:
    try:
        return _COMMANDS[args.audit_command](args)
    except BrokenPipeError:
        # The reader went away (`| head`): not a failure. Point stdout at /dev/null so
        # that the interpreter's last flush does not fail again.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except FileNotFoundError as error:
        raise Refused(f"no audit log at {error.filename}") from None
    except (OSError, AuditUnavailable) as error:
        raise Refused(f"cannot read the audit log: {error}") from None


def add_commands(commands: Any) -> dict[str, Callable[[argparse.Namespace], int]]:
    audit = commands.add_parser("audit", help="read the audit log")
    actions = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")

    search = actions.add_parser("search", help="records matching filters, as a table or JSON")
    add_filters(search, limit=True)
    search.add_argument(
        "--json", action="store_true", help="JSON Lines: each record as stored, one per line"
    )

    tail = actions.add_parser("tail", help=f"the last {_TAIL} records (JSON Lines)")
    tail.add_argument(
        "-f", "--follow", action="store_true", help="then print new records until Ctrl-C"
    )
    shape = tail.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="JSON Lines (the default)")
    shape.add_argument("--table", action="store_true", help="a table for reading")

    export = actions.add_parser("export", help="records matching filters, as JSONL or CSV")
    add_filters(export, limit=True)
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument(
        "--output", "-o", type=Path, metavar="FILE", help="write here, not to standard output"
    )

    stats = actions.add_parser(
        "stats", help="counts by event, decision, tier, rule, phase and route"
    )
    add_filters(stats, limit=False)
    stats.add_argument("--json", action="store_true", help="one JSON document")

    verify = actions.add_parser("verify", help="check every segment's hash chain")
    verify.add_argument("--json", action="store_true", help="JSON Lines, one per segment")

    for parser in (search, tail, export, stats, verify):
        add_setting_flags(parser, serve=False)
    return {"audit": _run}
