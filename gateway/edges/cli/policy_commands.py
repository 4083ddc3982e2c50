"""`phasegate policy check` and `phasegate phase [set NAME]`."""

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
from gateway.core.policy import Policy, PolicyErrors
from gateway.edges.admin import Refused
from gateway.edges.cli.admin_commands import audit, load_checked_policy, with_store
from gateway.edges.cli.options import add_setting_flags, settings_from
from gateway.edges.cli.output import print_json, print_table, timestamp
from gateway.edges.policy_files import PolicyFolderError, read_policy
from gateway.edges.settings import Settings


def summary(policy: Policy, folder: Path) -> str:
    counts = policy.summary
    return (
        f"{folder}: valid; {counts.phases} phases, {counts.tiers} tiers, "
        f"{counts.rules} rules ({counts.shadow_rules} shadow), {counts.lists} lists "
        f"({counts.list_terms} terms); version {policy.version[:12]}"
    )


def cmd_policy_check(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    folder = Path(args.folder) if args.folder else settings.policies
    try:
        policy = read_policy(folder)
    except PolicyFolderError as exc:
        raise Refused(str(exc)) from None
    except PolicyErrors as exc:
        if args.json:
            errors = [{"file": e.file, "line": e.line, "message": e.message} for e in exc.errors]
            print_json({"valid": False, "errors": errors})
        else:
            for error in exc.errors:
                print(error)
            print(f"{len(exc.errors)} error(s)")
        return 1
    if args.json:
        print_json({"valid": True, "version": policy.version, **asdict(policy.summary)})
    else:
        print(summary(policy, folder))
    return 0


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

    phase = commands.add_parser("phase", help="show or change the rollout phase")
    phase.add_argument("--json", action="store_true", help="print a JSON document")
    phase_commands = phase.add_subparsers(dest="phase_command", metavar="ACTION")
    set_phase = phase_commands.add_parser("set", help="move every gateway to another phase")
    set_phase.add_argument("name", metavar="NAME")
    set_phase.add_argument("--actor", default=None, help="who makes the change (default: $USER)")
    add_setting_flags(phase, serve=False)
    add_setting_flags(set_phase, serve=False)
    return {"policy": cmd_policy_check, "phase": cmd_phase}
