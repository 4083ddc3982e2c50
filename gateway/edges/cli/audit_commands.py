"""`phasegate audit verify | tail`: reading the audit log's JSONL segments."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson

from gateway.core.audit.chain import verify_lines
from gateway.core.keys import SigningKey
from gateway.edges.admin import Refused
from gateway.edges.cli.admin_commands import with_store
from gateway.edges.cli.options import add_setting_flags, settings_from
from gateway.edges.settings import Settings, SettingsError

_TAIL = 20


def _audit_folder(settings: Settings) -> Path:
    parts = urlsplit(settings.audit_url)
    if parts.scheme != "file":
        raise SettingsError("--audit: only file:///DIR audit logs can be read so far")
    return Path(unquote(parts.path))


def _segments(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise Refused(f"no audit log at {folder}")
    return sorted(folder.glob("audit-*.jsonl"))


def cmd_verify(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    segments = _segments(_audit_folder(settings))
    stored = with_store(settings, lambda store: store.keys())
    public = {key.kid: SigningKey.from_stored(key).public for key in stored}
    failures = 0
    newest = segments[-1] if segments else None
    rows: list[dict[str, Any]] = []
    for segment in segments:
        report = verify_lines(segment.read_bytes().splitlines(), public_keys=public)
        # Only the segment being written may lack its closing checkpoint.
        unsealed = report.ok and not report.sealed and segment != newest
        ok = report.ok and not unsealed
        failures += not ok
        rows.append(
            {
                "segment": segment.name,
                "ok": ok,
                "records": report.records,
                "sealed": report.sealed,
                "problem": None
                if ok
                else (
                    "segment is not sealed by a checkpoint (a later segment exists)"
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


def cmd_tail(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    lines: list[bytes] = []
    for segment in reversed(_segments(_audit_folder(settings))):
        lines = segment.read_bytes().splitlines() + lines
        if len(lines) >= _TAIL:
            break
    for line in lines[-_TAIL:]:
        sys.stdout.write(line.decode() + "\n")
    return 0


def add_commands(commands: Any) -> dict[str, Callable[[argparse.Namespace], int]]:
    audit = commands.add_parser("audit", help="read the audit log")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = audit_commands.add_parser("verify", help="check every segment's hash chain")
    verify.add_argument("--json", action="store_true", help="JSON Lines, one per segment")
    tail = audit_commands.add_parser("tail", help="print the last 20 records (JSON Lines)")
    for parser in (verify, tail):
        add_setting_flags(parser, serve=False)

    def run(args: argparse.Namespace) -> int:
        return cmd_verify(args) if args.audit_command == "verify" else cmd_tail(args)

    return {"audit": run}
