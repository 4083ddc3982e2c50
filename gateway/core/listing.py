"""`GET /v1/videos` answered from the caller's own jobs, in the OpenAI list shape."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.core.errors import BadRequest
from gateway.core.numbers import whole_number

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass(frozen=True, slots=True)
class ListQuery:
    after: str | None
    limit: int
    newest_first: bool


def parse_list_query(params: Mapping[str, str]) -> ListQuery:
    raw_limit = params.get("limit")
    limit = DEFAULT_LIMIT if raw_limit is None else whole_number(raw_limit)
    if limit is None or not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}.", param="limit")
    order = params.get("order", "desc")
    if order not in ("asc", "desc"):
        raise BadRequest("order must be asc or desc.", param="order")
    after = params.get("after") or None
    return ListQuery(after=after, limit=limit, newest_first=order == "desc")


def list_document(videos: Sequence[Mapping[str, Any]], has_more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "data": list(videos),
        "first_id": videos[0]["id"] if videos else None,
        "last_id": videos[-1]["id"] if videos else None,
        "has_more": has_more,
    }
