"""The request path as an ordered list of steps around the upstream call.

Authentication, phase admission, policy, limits and audit each plug in as one
`Step`; the proxy runs them without knowing what they do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.core.routes import Route
from gateway.core.tokens import AccessClaims


@dataclass(slots=True)
class Exchange:
    """One proxied request as the steps see it; steps may add upstream headers and notes."""

    request_id: str
    method: str
    route: Route
    target: str
    headers: list[tuple[str, str]]
    client_host: str | None
    caller: AccessClaims | None = None
    body: bytes | None = None
    upstream_headers: list[tuple[str, str]] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer a step gives in place of the model API's (a listing, a held request)."""

    status: int
    document: Any
    headers: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the model API answered, as far as steps need to know."""

    status: int
    headers: Sequence[tuple[str, str]]
    body: bytes | None = None


class Step(Protocol):
    async def before(self, exchange: Exchange) -> Reply | None:
        """Admit the exchange (None), answer it instead of the model API, or raise to refuse."""
        ...

    async def after(self, exchange: Exchange, outcome: Outcome) -> None:
        """Observe the model API's answer before it goes back to the caller."""
        ...


class Pipeline:
    def __init__(self, steps: Sequence[Step] = ()) -> None:
        self._steps = tuple(steps)
        self._reversed = tuple(reversed(self._steps))

    async def before(self, exchange: Exchange) -> Reply | None:
        for step in self._steps:
            reply = await step.before(exchange)
            if reply is not None:
                return reply
        return None

    async def after(self, exchange: Exchange, outcome: Outcome) -> None:
        for step in self._reversed:
            await step.after(exchange, outcome)
