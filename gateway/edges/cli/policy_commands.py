"""`phasegate policy check | test | replay` and `phasegate phase [set NAME]`."""

from __future__ import annotations

import argparse
import getpass
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from gateway.core.audit import records
from gateway.core.identity import PhaseChange
from gateway.core.policy import Policy, PolicyError, PolicyErrors
from gateway.core.policy.cases import CaseResult, load_cases, run_case
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
from gateway.edges.settings import Settings


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
}


def _run_policy(args: argparse.Namespace) -> int:
    return _POLICY_COMMANDS[args.policy_command](args)
