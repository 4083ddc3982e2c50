"""`GET /v1/videos` answered from the caller's own jobs, in the OpenAI list shape.

The query is read as the OpenAI spec writes it: `limit` from 0 to 100 (default 20; 0 is
an empty page whose `has_more` says whether the caller has any jobs there), `order`
`asc` or `desc` (default `desc`), `after` a video id. A parameter given empty or twice
is refused rather than read one way or another.
"""

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


_KNOWN = ("after", "limit", "order")


def parse_list_query(pairs: Sequence[tuple[str, str]]) -> ListQuery:
    """The query's pairs as decoded, blank values kept (unknown names are ignored)."""
    params: dict[str, str] = {}
    for name, value in pairs:
        if name not in _KNOWN:
            continue
        if name in params:
            raise BadRequest(f"The query repeats {name!r}.", param=name)
        if not value:
            raise BadRequest(f"{name} must not be empty.", param=name)
        params[name] = value
    raw_limit = params.get("limit")
    limit = DEFAULT_LIMIT if raw_limit is None else whole_number(raw_limit)
    if limit is None or not 0 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be a whole number from 0 to {MAX_LIMIT}.", param="limit")
    order = params.get("order", "desc")
    if order not in ("asc", "desc"):
        raise BadRequest("order must be asc or desc.", param="order")
    return ListQuery(after=params.get("after"), limit=limit, newest_first=order == "desc")


def list_document(videos: Sequence[Mapping[str, Any]], has_more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "data": list(videos),
        "first_id": videos[0]["id"] if videos else None,
        "last_id": videos[-1]["id"] if videos else None,
        "has_more": has_more,
    }
