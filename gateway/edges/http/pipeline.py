"""The request path as an ordered list of steps around the upstream call.

Authentication, phase admission, policy, limits and audit each plug in as one
`Step`; the proxy runs them without knowing what they do.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from gateway.core.errors import GatewayError
from gateway.core.job_alias import JobAlias
from gateway.core.jobs import video_in
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
    # Added to whatever answers the caller: the model API's response, a reply or a refusal.
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    notes: dict[str, Any] = field(default_factory=dict)
    # Set when the job in the path is one the gateway submitted after a review: `target`
    # then carries the model's id, and the model's answers are rewritten to the client's.
    alias: JobAlias | None = None
    # Why the gateway refused the exchange, if it did (set once every step has heard).
    refusal: GatewayError | None = None

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
    """What the model API answered, as far as steps need to know. A buffered answer is
    read once here, so no step parses the same document again."""

    status: int
    headers: Sequence[tuple[str, str]]
    body: bytes | None = None
    job_id: str | None = field(init=False, default=None)
    job_status: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        job_id, job_status = video_in(self.body)
        object.__setattr__(self, "job_id", job_id)
        object.__setattr__(self, "job_status", job_status)


class Step(Protocol):
    async def before(self, exchange: Exchange) -> Reply | None:
        """Admit the exchange (None), answer it instead of the model API, or raise to refuse."""
        ...

    async def after(self, exchange: Exchange, outcome: Outcome) -> None:
        """Observe the model API's answer before it goes back to the caller."""
        ...

    async def failed(self, exchange: Exchange) -> None:
        """The exchange was admitted but got no answer: the model API was unreachable or
        silent, or a later step refused it. Undo what `before` reserved."""
        ...

    async def refused(self, exchange: Exchange, error: GatewayError) -> None:
        """The gateway refused the exchange (any step, before anything was forwarded)."""
        ...


class PassiveStep:
    """A step that does nothing at any stage; steps override only the stages they use."""

    async def before(self, exchange: Exchange) -> Reply | None:
        return None

    async def after(self, exchange: Exchange, outcome: Outcome) -> None:
        return None

    async def failed(self, exchange: Exchange) -> None:
        return None

    async def refused(self, exchange: Exchange, error: GatewayError) -> None:
        return None


class Pipeline:
    def __init__(self, steps: Sequence[Step] = ()) -> None:
        self._steps = tuple(steps)
        self._reversed = tuple(reversed(self._steps))

    async def before(self, exchange: Exchange) -> Reply | None:
        admitted: list[Step] = []
        try:
            for step in self._steps:
                reply = await step.before(exchange)
                if reply is not None:
                    # The reply is the answer: the steps before it observe it as such.
                    outcome = Outcome(reply.status, reply.headers, orjson.dumps(reply.document))
                    for earlier in reversed(admitted):
                        await earlier.after(exchange, outcome)
                    return reply
                admitted.append(step)
        except BaseException:
            # A refusal by a later step undoes what the earlier ones reserved.
            for step in reversed(admitted):
                await step.failed(exchange)
            raise
        return None

    async def failed(self, exchange: Exchange) -> None:
        for step in self._reversed:
            await step.failed(exchange)

    async def refused(self, exchange: Exchange, error: GatewayError) -> None:
        # Every step hears of it, admitted or not: a refusal is recorded wherever it arose.
        for step in self._steps:
            await step.refused(exchange, error)
        exchange.refusal = error

    async def after(self, exchange: Exchange, outcome: Outcome) -> None:
        for step in self._reversed:
            await step.after(exchange, outcome)
