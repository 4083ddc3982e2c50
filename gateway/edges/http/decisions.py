"""The decision a proxied request ended with, named as the audit records name it.

The audit trail and the request metrics both label requests with it, so an operator
reading a dashboard and a reviewer reading the log count the same six decisions.
"""

from __future__ import annotations

from gateway.core.audit.records import refusal_decision
from gateway.core.policy import Decision
from gateway.edges.http.pipeline import Exchange

__all__ = ["admitted_decision", "final_decision", "refusal_decision"]


def admitted_decision(exchange: Exchange) -> str:
    """allow, flag or hold: a request the gateway let through or answered itself."""
    if "hold" in exchange.notes:
        return "hold"
    decision: Decision | None = exchange.notes.get("decision")
    return decision.action.label if decision is not None else "allow"


def final_decision(exchange: Exchange) -> str:
    refusal = exchange.refusal
    return refusal_decision(refusal) if refusal is not None else admitted_decision(exchange)
