"""`phasegate review list | show | approve | reject`: the human review queue.

The commands only read and move reviews in the state store; running gateways do the
rest (submit approved requests to the model API, give back what rejected and expired
ones reserved). Any command expires the overdue reviews it looks at.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from gateway.core.audit import records
from gateway.core.errors import GatewayError
from gateway.core.generation_body import parse_generation, reference_file
from gateway.core.policy.request import GenerationRequest
from gateway.core.review import HeldRequest
from gateway.core.review_state import (
    Review,
    ReviewInputError,
    ReviewState,
    ReviewTransition,
    approve,
    refusal_reason,
    reject,
)
from gateway.edges.admin import Refused, record_admin_event
from gateway.edges.cli.admin_commands import with_store
from gateway.edges.cli.options import add_setting_flags, settings_from
from gateway.edges.cli.output import print_fields, print_json, print_table, timestamp
from gateway.edges.settings import Settings, SettingsError
from gateway.ports.review.settlement import Settlement
from gateway.ports.store import Store

_EXCERPT = 48


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def _excerpt(text: str | None) -> str | None:
    if text is None:
        return None
    line = " ".join(text.split())
    return line if len(line) <= _EXCERPT else line[: _EXCERPT - 1] + "…"


def _request(held: HeldRequest | None) -> GenerationRequest | None:
    if held is None:
        return None
    try:
        return parse_generation(
            held.body,
            held.content_type,
            is_remix=held.target.endswith("/remix"),
            max_reference=len(held.body),
        )
    except GatewayError:
        return None  # judged readable when it was held; shown without its fields if not


class _Desk:
    """One command's view of the queue: overdue reviews expire as they are looked at."""

    def __init__(self, store: Store, settings: Settings, now: float) -> None:
        self.store = store
        self.now = now
        self._settings = settings
        # No limiter here: a running gateway gives back what an expired review reserved.
        self._settlement = Settlement(store, None, self._record, lambda: now)

    async def _record(self, record: dict[str, Any]) -> None:
        await record_admin_event(self.store, self._settings.audit_url, record, now=self.now)

    async def current(self, review: Review) -> Review:
        return await self._settlement.expire(review) if review.overdue(self.now) else review

    async def review(self, video_id: str) -> Review:
        review = await self.store.review(video_id)
        if review is None:
            raise Refused(f"no review {video_id!r}")
        return await self.current(review)

    async def reviews(self, states: Sequence[ReviewState]) -> list[Review]:
        return [await self.current(r) for r in await self.store.reviews(states)]


def _row(
    review: Review, held: HeldRequest | None, request: GenerationRequest | None, now: float
) -> dict[str, Any]:
    return {
        "id": review.video_id,
        "state": review.state.value,
        "created": timestamp(review.created_at),
        "age": _age(now - review.created_at),
        "age_seconds": round(now - review.created_at, 3),
        "expires": timestamp(review.expires_at),
        "tier": review.tier,
        "principal": review.principal,
        "client_id": review.client_id,
        "prompt": request.prompt if request else None,
        "rules": list(held.rule_ids) if held else [],
        "reviewer": review.reviewer,
        "decided": timestamp(review.decided_at),
    }


def cmd_list(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    now = time.time()
    states = list(ReviewState) if args.all else [ReviewState.PENDING]

    async def work(store: Store) -> list[dict[str, Any]]:
        desk = _Desk(store, settings, now)
        rows = []
        for review in await desk.reviews(states):
            if review.state not in states:
                continue  # expired just now
            held = await store.held_request(review.video_id)
            rows.append(_row(review, held, _request(held), now))
        return rows

    rows = with_store(settings, work)
    if args.json:
        print_json(rows)
        return 0
    for row in rows:
        row["prompt"] = _excerpt(row["prompt"])
        row["rules"] = ",".join(row["rules"])
    columns = [
        "id",
        *(["state"] if args.all else []),
        "age",
        "tier",
        "principal",
        "prompt",
        "rules",
    ]
    print_table(rows, columns)
    return 0


def _document(
    review: Review, held: HeldRequest | None, request: GenerationRequest | None, now: float
) -> dict[str, Any]:
    reference = request.input_reference if request else None
    code, message = review.client_error()
    return {
        **_row(review, held, request, now),
        "request_id": review.request_id,
        "policy_version": held.policy_version if held else None,
        "route": held.target if held else None,
        "content_type": held.content_type if held else None,
        "model": request.model if request else None,
        "params": dict(request.params) if request else None,
        "input_reference": None if reference is None else reference.described(),
        "note": review.note,
        "reason": review.reason,
        "public_message": review.public_message,
        "upstream_job_id": review.upstream_job_id,
        "upstream_status": review.upstream_status,
        "error": {"code": code, "message": message} if review.state.ended_without_job else None,
    }


def _write_reference(path: Path, data: bytes) -> None:
    try:
        # Never over an existing file, and readable by the reviewer only: it is untrusted input.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise Refused(f"{path} exists already; name a new file") from None
    except OSError as exc:
        raise Refused(f"cannot write {path}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def cmd_show(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    now = time.time()

    async def work(store: Store) -> tuple[dict[str, Any], bytes | None]:
        review = await _Desk(store, settings, now).review(args.id)
        held = await store.held_request(review.video_id)
        document = _document(review, held, _request(held), now)
        image = None
        if args.extract_reference is not None and held is not None:
            try:
                image = reference_file(held.body, held.content_type)
            except GatewayError:
                image = None
        return document, image

    document, image = with_store(settings, work)
    if args.extract_reference is not None:
        if image is None:
            raise Refused(f"review {args.id} has no reference image")
        _write_reference(Path(args.extract_reference), image)
    if args.json:
        print_json(document)
    else:
        prompt = document.pop("prompt")
        print_fields(
            {
                name: orjson.dumps(value).decode() if isinstance(value, dict | list) else value
                for name, value in document.items()
                if name != "age_seconds"
            }
        )
        print(f"\nprompt:\n{prompt}")
    if image is not None:
        print(f"reference image written to {args.extract_reference} ({len(image)} bytes)")
    return 0


def _decide(
    args: argparse.Namespace,
    transition: Callable[[float], ReviewTransition],
    wanted: str,
    event: Callable[[Review, float], dict[str, Any]],
) -> Review:
    settings = settings_from(args)
    now = time.time()
    try:
        change = transition(now)
    except ReviewInputError as exc:
        raise SettingsError(str(exc)) from None

    async def work(store: Store) -> Review:
        desk = _Desk(store, settings, now)
        review = await desk.review(args.id)
        if review.state is not ReviewState.PENDING:
            raise Refused(refusal_reason(args.id, review, wanted))
        move = await store.move_review(args.id, change)
        if not move.won or move.review is None:
            raise Refused(refusal_reason(args.id, move.review, wanted))
        await record_admin_event(store, settings.audit_url, event(move.review, now), now=now)
        return move.review

    return with_store(settings, work)


def cmd_approve(args: argparse.Namespace) -> int:
    review = _decide(
        args,
        lambda now: approve(reviewer=args.reviewer, note=args.note, at=now),
        "approved",
        lambda r, now: records.review_approved(
            time=now, actor=r.reviewer or args.reviewer, review=r, note=r.note
        ),
    )
    print(f"approved {review.video_id}; a running gateway submits it to the model API")
    return 0


def cmd_reject(args: argparse.Namespace) -> int:
    review = _decide(
        args,
        lambda now: reject(
            reviewer=args.reviewer,
            reason=args.reason,
            public_message=args.public_message,
            at=now,
        ),
        "rejected",
        lambda r, now: records.review_rejected(
            time=now,
            actor=r.reviewer or args.reviewer,
            review=r,
            reason=r.reason or args.reason,
            public_message=r.public_message,
        ),
    )
    message = review.client_error()[1]
    print(f"rejected {review.video_id}; the client reads it as failed: {message}")
    return 0


def add_commands(commands: Any) -> dict[str, Callable[[argparse.Namespace], int]]:
    review = commands.add_parser("review", help="the review queue of held generation requests")
    actions = review.add_subparsers(dest="review_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="pending reviews, oldest first")
    listing.add_argument("--all", action="store_true", help="decided reviews too, with state")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    show = actions.add_parser("show", help="everything about one review")
    show.add_argument("id", metavar="ID", help="the review id (the video id the client holds)")
    show.add_argument("--json", action="store_true", help="print a JSON document")
    show.add_argument(
        "--extract-reference",
        default=None,
        metavar="PATH",
        help="write the request's reference image to this new file",
    )
    approving = actions.add_parser("approve", help="let a held request through to the model")
    approving.add_argument("id", metavar="ID")
    approving.add_argument("--reviewer", required=True, metavar="NAME", help="who decides")
    approving.add_argument("--note", default=None, metavar="TEXT", help="kept with the record")
    rejecting = actions.add_parser("reject", help="turn a held request down")
    rejecting.add_argument("id", metavar="ID")
    rejecting.add_argument("--reviewer", required=True, metavar="NAME", help="who decides")
    rejecting.add_argument("--reason", required=True, metavar="TEXT", help="for the record")
    rejecting.add_argument(
        "--public-message",
        default=None,
        metavar="TEXT",
        help="what the client reads (default: a neutral message)",
    )
    for parser in actions.choices.values():
        add_setting_flags(parser, serve=False)
    handlers = {"list": cmd_list, "show": cmd_show, "approve": cmd_approve, "reject": cmd_reject}
    return {"review": lambda args: handlers[args.review_command](args)}
