"""`phasegate policy check | test | replay` and `phasegate phase [set NAME]`."""

from __future__ import annotations

import argparse
import contextlib
import gc
import getpass
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from gateway.core.audit import records
from gateway.core.audit.query import parse_instant
from gateway.core.identity import PhaseChange
from gateway.core.numbers import whole_number
from gateway.core.policy import Policy, PolicyError, PolicyErrors
from gateway.core.policy.cases import CaseResult, load_cases, run_case
from gateway.core.policy.replay import Replay, replayable_records
from gateway.edges.admin import Refused
from gateway.edges.cli.admin_commands import audit, load_checked_policy, with_store
from gateway.edges.cli.options import add_setting_flags, settings_from
from gateway.edges.cli.output import print_json, print_table, timestamp
from gateway.edges.policy_files import (
    CASES_FOLDER,
    PolicyFolderError,
    case_sources,
    read_policy,
)
from gateway.edges.settings import Settings, SettingsError
from gateway.ports.audit import AuditUnavailable, open_audit_source
from gateway.ports.audit.reading import blocks_of, may_hold


def summary(policy: Policy, folder: Path) -> str:
    counts = policy.summary
    return (
        f"{folder}: valid; {counts.phases} phases, {counts.tiers} tiers, "
        f"{counts.rules} rules ({counts.shadow_rules} shadow), {counts.lists} lists "
        f"({counts.list_terms} terms); version {policy.version[:12]}"
    )


def _print_errors(errors: tuple[PolicyError, ...], as_json: bool) -> int:
    if as_json:
        found = [{"file": e.file, "line": e.line, "message": e.message} for e in errors]
        print_json({"valid": False, "errors": found})
    else:
        for error in errors:
            print(error)
        print(f"{len(errors)} error(s)")
    return 1


def cmd_policy_check(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    folder = Path(args.folder) if args.folder else settings.policies
    try:
        policy = read_policy(folder)
    except PolicyFolderError as exc:
        raise Refused(str(exc)) from None
    except PolicyErrors as exc:
        return _print_errors(exc.errors, args.json)
    if args.json:
        print_json({"valid": True, "version": policy.version, **asdict(policy.summary)})
    else:
        print(summary(policy, folder))
    return 0


def _result_document(result: CaseResult) -> dict[str, Any]:
    case = result.case
    return {
        "file": case.file,
        "line": case.line,
        "name": case.name,
        "tier": case.tier,
        "passed": result.passed,
        "expected": {"decision": case.decision, "rules": case.rules},
        "actual": {"decision": result.decision, "rules": list(result.rules)},
    }


def cmd_policy_test(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    folder = Path(args.folder) if args.folder else settings.policies
    try:
        policy = read_policy(folder)
        files = case_sources(args.cases or folder / CASES_FOLDER)
    except PolicyFolderError as exc:
        raise Refused(str(exc)) from None
    except PolicyErrors as exc:
        return _print_errors(exc.errors, args.json)
    if not files:
        raise Refused(f"no test cases: no *.yaml in {args.cases or folder / CASES_FOLDER}")
    cases, errors = load_cases(files, policy)
    if errors:
        return _print_errors(PolicyErrors(errors).errors, args.json)
    results = [run_case(policy, case) for case in cases]
    failed = [result for result in results if not result.passed]
    if args.json:
        print_json(
            {
                "valid": True,
                "policy_version": policy.version,
                "cases": len(results),
                "passed": len(results) - len(failed),
                "failed": len(failed),
                "results": [_result_document(result) for result in results],
            }
        )
    else:
        for result in failed:
            print(result)
        print(
            f"{folder}: {len(results)} case(s) in {len(files)} file(s),"
            f" {len(failed)} failing; version {policy.version[:12]}"
        )
    return 1 if failed else 0


def _loaded(folder: Path) -> Policy:
    try:
        return read_policy(folder)
    except PolicyErrors as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        raise Refused(f"{folder}: {len(exc.errors)} error(s); nothing replayed") from None


def _replay(args: argparse.Namespace, settings: Settings) -> Replay:
    current, new = _loaded(settings.policies), _loaded(Path(args.new_folder))
    if args.since is not None and args.until is not None and args.since >= args.until:
        raise SettingsError(f"--since ({args.since}) must be before --until ({args.until})")
    tiers = frozenset(args.tier or ())
    try:
        source = open_audit_source(settings.audit_url)
    except ValueError as error:
        raise SettingsError(f"--audit: {error}") from None
    replay = Replay(current, new, examples=args.examples)
    add = replay.add
    # A record makes no reference cycle and the caches are bounded: the collector's
    # passes over the millions of short-lived records would only cost time.
    gc.disable()
    try:
        # Counting needs no order: chain by chain, without merging them by time.
        for chain in source.chains():
            if not may_hold(chain, args.since, args.until):
                continue
            blocks = blocks_of(source, chain)
            for record in replayable_records(
                blocks, tiers=tiers, since=args.since, until=args.until
            ):
                add(record)
    except FileNotFoundError as error:
        raise Refused(f"no audit log at {error.filename}") from None
    except (OSError, AuditUnavailable) as error:
        raise Refused(f"cannot read the audit log: {error}") from None
    finally:
        gc.enable()
    return replay


def _print_replay(document: dict[str, Any], current: Path, new: Path) -> None:
    print(
        f"{document['total']:,} recorded request(s) judged under {current}"
        f" ({document['current_version'][:12]}) and {new} ({document['new_version'][:12]})"
    )
    print(f"{document['changed']:,} would be decided otherwise")
    for change in document["changes"]:
        examples = ", ".join(change["examples"])
        print(f"  {change['from']:>7} -> {change['to']:<7} {change['count']:>9,}  e.g. {examples}")
    moved = [r for r in document["rules"] if r["newly_matched"] or r["no_longer_matched"]]
    if moved:
        print("rules that would match other requests:")
        print_table(
            [
                {
                    "rule": r["id"],
                    "newly matched": f"{r['newly_matched']:,}",
                    "no longer matched": f"{r['no_longer_matched']:,}",
                    "e.g.": ", ".join(
                        r["examples"]["newly_matched"] or r["examples"]["no_longer_matched"]
                    ),
                }
                for r in moved
            ],
            ["rule", "newly matched", "no longer matched", "e.g."],
        )
    if document["unscored"]:
        print(
            f"{document['unscored']:,} request(s) have no recorded moderation scores:"
            " their moderation rules were passed over"
        )


def cmd_policy_replay(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    replay = _replay(args, settings)
    document = replay.document()
    try:
        if args.json:
            print_json(document)
        else:
            _print_replay(document, settings.policies, Path(args.new_folder))
        sys.stdout.flush()
    except BrokenPipeError:
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _instant(text: str) -> str:
    try:
        return parse_instant(text, time.time())
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _count(text: str) -> int:
    number = whole_number(text)
    if number is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return number


def _phase_document(settings: Settings) -> dict[str, Any]:
    policy = load_checked_policy(settings.policies)

    async def read(store: Any) -> tuple[str | None, list[PhaseChange]]:
        return await store.phase(), await store.phase_history()

    stored, history = with_store(settings, read)
    return {
        "phase": policy.current_phase(stored),
        "source": "set" if stored in policy.phase_names else "default_phase",
        "phases": list(policy.phase_names),
        "history": [
            {"phase": c.phase, "actor": c.actor, "changed": timestamp(c.changed_at)}
            for c in history
        ],
    }


def cmd_phase(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.phase_command == "set":
        policy = load_checked_policy(settings.policies)
        if args.name not in policy.phase_names:
            known = ", ".join(policy.phase_names)
            raise Refused(f"unknown phase {args.name!r}; the policies declare: {known}")
        change = PhaseChange(args.name, args.actor or getpass.getuser(), time.time())

        async def move(store: Any) -> str | None:
            previous: str | None = await store.phase()
            await store.set_phase(change)
            return previous

        previous = with_store(settings, move)
        event = records.phase_change(
            time=change.changed_at,
            actor=change.actor,
            phase=change.phase,
            previous_phase=previous or policy.default_phase,
        )
        audit(settings, event, change.changed_at)
        print(f"phase is now {change.phase} (set by {change.actor})")
        return 0
    document = _phase_document(settings)
    if args.json:
        print_json(document)
        return 0
    print(f"current phase: {document['phase']} ({document['source']})")
    if document["history"]:
        print()
        print_table(document["history"], ["changed", "phase", "actor"])
    return 0


def add_commands(commands: Any) -> dict[str, Callable[[argparse.Namespace], int]]:
    policy = commands.add_parser("policy", help="policy files")
    policy_commands = policy.add_subparsers(dest="policy_command", required=True, metavar="ACTION")
    check = policy_commands.add_parser("check", help="validate a policy folder")
    check.add_argument("folder", nargs="?", metavar="DIR", help="default: --policies")
    check.add_argument("--json", action="store_true", help="print a JSON document")
    add_setting_flags(check, serve=False)
    test = policy_commands.add_parser(
        "test", help="run a policy folder's test cases (DIR/tests/*.yaml)"
    )
    test.add_argument("folder", nargs="?", metavar="DIR", help="default: --policies")
    test.add_argument(
        "--cases",
        type=Path,
        metavar="PATH",
        help=f"a case file or a folder of them (default: DIR/{CASES_FOLDER})",
    )
    test.add_argument("--json", action="store_true", help="print a JSON document")
    add_setting_flags(test, serve=False)
    replay = policy_commands.add_parser(
        "replay",
        help="judge the recorded requests again under another policy folder: what would change",
    )
    replay.add_argument("new_folder", metavar="NEW_DIR", help="the policy folder to compare")
    replay.add_argument(
        "--since",
        type=_instant,
        metavar="WHEN",
        help="from this time on: RFC 3339 (2026-11-26T09:30:00Z), a date, or 90s, 15m, 12h, 7d ago",
    )
    replay.add_argument("--until", type=_instant, metavar="WHEN", help="before this time")
    replay.add_argument(
        "--tier", action="append", metavar="TIER", help="only this tier's requests (repeatable)"
    )
    replay.add_argument(
        "--examples",
        type=_count,
        default=5,
        metavar="N",
        help="request ids shown per change and per rule (default 5)",
    )
    replay.add_argument("--json", action="store_true", help="print a JSON document")
    add_setting_flags(replay, serve=False)

    phase = commands.add_parser("phase", help="show or change the rollout phase")
    phase.add_argument("--json", action="store_true", help="print a JSON document")
    phase_commands = phase.add_subparsers(dest="phase_command", metavar="ACTION")
    set_phase = phase_commands.add_parser("set", help="move every gateway to another phase")
    set_phase.add_argument("name", metavar="NAME")
    set_phase.add_argument("--actor", default=None, help="who makes the change (default: $USER)")
    add_setting_flags(phase, serve=False)
    add_setting_flags(set_phase, serve=False)
    return {"policy": _run_policy, "phase": cmd_phase}


_POLICY_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "check": cmd_policy_check,
    "test": cmd_policy_test,
    "replay": cmd_policy_replay,
}


def _run_policy(args: argparse.Namespace) -> int:
    return _POLICY_COMMANDS[args.policy_command](args)
