"""`phasegate grant | revoke | grants | keys`: admin commands on the shared state."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from gateway.core.audit import records
from gateway.core.identity import Grant
from gateway.core.keys import KeyRing
from gateway.core.policy import Policy, PolicyErrors
from gateway.core.units import parse_duration
from gateway.edges.admin import Refused, grant_tier, record_admin_event, rotate_keys
from gateway.edges.cli.options import add_setting_flags, settings_from
from gateway.edges.cli.output import print_fields, print_json, print_table, timestamp
from gateway.edges.policy_files import PolicyFolderError, read_policy
from gateway.edges.settings import Settings, SettingsError
from gateway.ports.store import Store, StoreUnavailable, open_store

T = TypeVar("T")
# Tokens stay valid this long past `exp`; a retiring key must outlive them by as much.
VERIFICATION_LEEWAY = 30.0


def with_store(settings: Settings, work: Callable[[Store], Awaitable[T]]) -> T:
    try:
        store = open_store(settings.store_url)
    except ValueError as exc:
        # A URL of a store this build cannot open (yet) is a usage error, not a crash.
        raise SettingsError(f"--store: {exc}") from None

    async def run() -> T:
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except StoreUnavailable as exc:
        raise Refused(f"the state store is unavailable: {exc}") from None


def _grant_row(grant: Grant) -> dict[str, Any]:
    return {
        "principal": grant.principal,
        "tier": grant.tier,
        "client_id": grant.client_id,
        "created": timestamp(grant.created_at),
        "expires": timestamp(grant.expires_at),
        "revoked": timestamp(grant.revoked_at),
    }


def load_checked_policy(folder: Path) -> Policy:
    """The policy an admin command checks names against; any error refuses the command."""
    try:
        return read_policy(folder)
    except PolicyFolderError as exc:
        raise Refused(str(exc)) from None
    except PolicyErrors as exc:
        raise Refused("the policy is invalid:\n" + "\n".join(map(str, exc.errors))) from None


def audit(settings: Settings, record: dict[str, Any], now: float) -> None:
    """Record an admin change in the audit log, after it was made."""
    with_store(
        settings, lambda store: record_admin_event(store, settings.audit_url, record, now=now)
    )


def cmd_grant(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    try:
        ttl = parse_duration(args.ttl) if args.ttl else None
    except ValueError as exc:
        raise SettingsError(f"--ttl: {exc}") from None
    tiers = frozenset(load_checked_policy(settings.policies).tiers)
    now = time.time()
    issued = with_store(
        settings,
        lambda store: grant_tier(
            store, args.principal, args.tier, known_tiers=tiers, now=now, ttl=ttl
        ),
    )
    grant = issued.grant
    audit(
        settings,
        records.grant(
            time=now,
            actor=getpass.getuser(),
            principal=grant.principal,
            tier=grant.tier,
            client_id=grant.client_id,
            expires_at=grant.expires_at,
        ),
        now,
    )
    document = {**_grant_row(issued.grant), "client_secret": issued.client_secret}
    if args.json:
        print_json(document)
    else:
        print_fields(document)
        print("\nThe client secret is shown only this once; it cannot be recovered.")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    now = time.time()
    chosen = [v for v in (args.principal, args.client_id, args.jti) if v]
    if len(chosen) != 1:
        raise SettingsError("name exactly one of PRINCIPAL, --client-id or --jti")
    actor = getpass.getuser()
    if args.principal:
        count = with_store(settings, lambda s: s.revoke_principal(args.principal, now))
        if count == 0:
            raise Refused(f"principal {args.principal!r} holds no live grant")
        event = records.revoke(time=now, actor=actor, principal=args.principal, revoked=count)
        audit(settings, event, now)
        print(f"revoked {count} grant(s) of {args.principal}")
    elif args.client_id:
        if not with_store(settings, lambda s: s.revoke_client(args.client_id, now)):
            raise Refused(f"client {args.client_id!r} is unknown or already revoked")
        event = records.revoke(time=now, actor=actor, client_id=args.client_id, revoked=1)
        audit(settings, event, now)
        print(f"revoked client {args.client_id}")
    else:
        # Its expiry is unknown here; no token lives longer than the configured lifetime.
        until = now + settings.token_ttl + VERIFICATION_LEEWAY
        with_store(settings, lambda s: s.revoke_token(args.jti, until, now))
        audit(settings, records.revoke(time=now, actor=actor, jti=args.jti, revoked=1), now)
        print(f"revoked token {args.jti}")
    return 0


def cmd_grants(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    rows = [_grant_row(g) for g in with_store(settings, lambda s: s.grants())]
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ["principal", "tier", "client_id", "created", "expires", "revoked"])
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    now = time.time()
    if args.keys_command == "rotate":
        grace = settings.token_ttl + VERIFICATION_LEEWAY
        fresh, retiring = with_store(
            settings, lambda s: rotate_keys(s, now=now, longest_token_lifetime=grace)
        )
        event = records.key_rotation(
            time=now, actor=getpass.getuser(), kid=fresh.kid, retiring=retiring
        )
        audit(settings, event, now)
        print(f"new signing key {fresh.kid}; previous keys verify for {grace:g}s more")
        return 0
    if args.keys_command == "retire":
        if not with_store(settings, lambda s: s.schedule_retirement(args.kid, now)):
            raise Refused(f"no key with id {args.kid!r}")
        print(f"retired key {args.kid}")
        return 0
    stored = with_store(settings, lambda s: s.keys())
    signing = KeyRing.from_stored(stored, now).signing
    rows = [
        {
            "kid": key.kid,
            "state": "signing"
            if signing is not None and key.kid == signing.kid
            else ("verifying" if key.verifies_at(now) else "retired"),
            "created": timestamp(key.created_at),
            "retires": timestamp(key.retire_at),
        }
        for key in stored
    ]
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ["kid", "state", "created", "retires"])
    return 0


def add_commands(commands: Any) -> dict[str, Callable[[argparse.Namespace], int]]:
    grant = commands.add_parser("grant", help="grant a tier: create a client credential")
    grant.add_argument("principal", metavar="PRINCIPAL")
    grant.add_argument("--tier", required=True, help="a tier the policies declare")
    grant.add_argument(
        "--ttl",
        default=None,
        metavar="DURATION",
        help="grant lifetime (e.g. 90d; no expiry unless given)",
    )
    grant.add_argument("--json", action="store_true", help="print a JSON document")

    revoke = commands.add_parser("revoke", help="revoke a principal, a client or one token")
    revoke.add_argument("principal", metavar="PRINCIPAL", nargs="?")
    revoke.add_argument("--client-id", default=None, metavar="ID")
    revoke.add_argument("--jti", default=None, metavar="ID")

    grants = commands.add_parser("grants", help="list grants")
    grants.add_argument("--json", action="store_true", help="print a JSON document")

    keys = commands.add_parser("keys", help="token signing keys")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    keys_commands.add_parser("rotate", help="start signing with a new key")
    listing = keys_commands.add_parser("list", help="list keys")
    listing.add_argument("--json", action="store_true", help="print a JSON document")
    retire = keys_commands.add_parser("retire", help="stop a key verifying at once")
    retire.add_argument("kid", metavar="KID")

    for parser in (grant, revoke, grants, *keys_commands.choices.values()):
        add_setting_flags(parser, serve=False)
    return {"grant": cmd_grant, "revoke": cmd_revoke, "grants": cmd_grants, "keys": cmd_keys}
