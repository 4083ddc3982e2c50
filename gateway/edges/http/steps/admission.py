"""The rollout: a tier passes only in the phases that admit it, and within a phase's
rollout percentage only the principals its stable hash lets in."""

from __future__ import annotations

from gateway.core.errors import MissingToken, TierNotInPhase, Waitlisted
from gateway.core.policy import Admission
from gateway.edges.http.pipeline import Exchange, PassiveStep, Reply
from gateway.edges.policy_runtime import PolicyHolder
from gateway.edges.shared_state import SharedState


class PhaseAdmission(PassiveStep):
    def __init__(self, policies: PolicyHolder, state: SharedState) -> None:
        self._policies = policies
        self._state = state

    async def before(self, exchange: Exchange) -> Reply | None:
        caller = exchange.caller
        if caller is None:
            raise MissingToken()
        # One policy object for the whole exchange, whatever reloads meanwhile.
        policy = self._policies.current
        exchange.notes["policy"] = policy
        phase = policy.current_phase(self._state.phase)
        exchange.notes["phase"] = phase
        admission = policy.admission(phase, caller.tier, caller.subject)
        if admission is Admission.ADMITTED:
            return None
        if admission is Admission.WAITLISTED:
            raise Waitlisted(
                f"The {caller.tier} tier is rolling out gradually in the {phase} phase, "
                "and your access has not opened yet."
            )
        raise TierNotInPhase(f"The {caller.tier} tier is not admitted in the {phase} phase.")
