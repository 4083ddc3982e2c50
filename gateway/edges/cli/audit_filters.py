"""The filter flags of `phasegate audit search / export / stats`, read into a `Query`.

Each field flag may be repeated: its values are alternatives; different flags must
all match (see `gateway.core.audit.query.Query`).
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Iterator
from typing import Any

from gateway.core.audit.query import Match, Query, parse_instant
from gateway.core.audit.records import EVENTS, FORWARDED_DECISIONS, REFUSED_DECISIONS
from gateway.edges.settings import SettingsError


def _instant(text: str) -> str:
    try:
        return parse_instant(text, time.time())
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return number


def _non_empty(text: str) -> str:
    if not text:
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def add_filters(parser: argparse.ArgumentParser, *, limit: bool) -> None:
    group = parser.add_argument_group(
        "filters (repeat one to accept any of its values; different ones must all match)"
    )

    def repeated(flag: str, metavar: str, help_text: str, **extra: Any) -> None:
        group.add_argument(flag, action="append", metavar=metavar, help=help_text, **extra)

    repeated("--principal", "NAME", "who asked (or was granted, or revoked)")
    repeated("--tier", "TIER", "the caller's tier")
    decisions = sorted(FORWARDED_DECISIONS | REFUSED_DECISIONS)
    repeated("--decision", "DECISION", f"one of {', '.join(decisions)}", choices=decisions)
    repeated("--rule", "ID", "a rule that matched the request (its id in `rules`)")
    repeated("--route", "PATH", "the route template, e.g. /v1/videos")
    repeated(
        "--event",
        "EVENT",
        "the event, e.g. refusal or grant; without it every event but checkpoints",
        choices=EVENTS,
    )
    group.add_argument(
        "--since",
        type=_instant,
        metavar="WHEN",
        help="from this time on: RFC 3339 (2026-11-26T09:30:00Z), a date, or 90s, 15m, 12h, 7d ago",
    )
    group.add_argument("--until", type=_instant, metavar="WHEN", help="before this time")
    group.add_argument(
        "--text", type=_non_empty, metavar="TEXT", help="in the prompt, ignoring case"
    )
    if limit:
        group.add_argument("--limit", type=_positive, metavar="N", help="at most N records")


def query_from(args: argparse.Namespace) -> Query:
    if args.since is not None and args.until is not None and args.since >= args.until:
        raise SettingsError(f"--since ({args.since}) must be before --until ({args.until})")
    return Query(
        principals=frozenset(args.principal or ()),
        tiers=frozenset(args.tier or ()),
        decisions=frozenset(args.decision or ()),
        rules=frozenset(args.rule or ()),
        routes=frozenset(args.route or ()),
        events=frozenset(args.event or ()),
        text=args.text,
        since=args.since,
        until=args.until,
    )


def limited(found: Iterator[Match], limit: int | None) -> Iterator[Match]:
    return found if limit is None else itertools.islice(found, limit)
