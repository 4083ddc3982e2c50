"""A generation body is read once, before any step needs it, and shared through the notes.

The idempotency key is judged on the request's meaning and the policy on its prompt
and parameters: both see the one reading made here, by the strict reader in the core.
A body that cannot be read is refused here, before any key is claimed or limit spent.
"""

from __future__ import annotations

from gateway.core.generation_body import parse_generation
from gateway.core.routes import RouteKind
from gateway.edges.http.pipeline import Exchange, PassiveStep, Reply

# The parsed `GenerationRequest`, for every later step.
REQUEST = "request"


class ReadGenerationRequest(PassiveStep):
    def __init__(self, *, max_reference: int) -> None:
        self._max_reference = max_reference

    async def before(self, exchange: Exchange) -> Reply | None:
        if not exchange.route.kind.is_generation or exchange.body is None:
            return None
        exchange.notes[REQUEST] = parse_generation(
            exchange.body,
            exchange.header("content-type") or "",
            is_remix=exchange.route.kind is RouteKind.REMIX_VIDEO,
            max_reference=self._max_reference,
        )
        return None
