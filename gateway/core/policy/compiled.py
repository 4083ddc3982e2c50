"""The compiled policy: phases, tiers and rules, and how they judge a request."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway.core.numbers import as_number
from gateway.core.policy.decision import Action, Admission, Decision, RuleHit
from gateway.core.policy.limits import LimitSpec
from gateway.core.policy.matchers import DEFAULT_MODEL, Matcher, Subject
from gateway.core.policy.moderation import Moderation, ModerationFailure, ModerationService
from gateway.core.policy.request import GenerationRequest

_BUCKET_BITS = 53  # a float holds 53 bits exactly
_BUCKETS = 1 << _BUCKET_BITS


def rollout_bucket(principal: str, tier: str) -> float:
    """The principal's stable place in [0, 100) for a tier's rollout; no phase in it, so
    whoever is admitted at p% stays admitted at every larger percentage and in every phase."""
    key = f"{len(principal)}:{principal}:{tier}".encode()
    value = int.from_bytes(hashlib.sha256(key).digest()[:8], "big") >> (64 - _BUCKET_BITS)
    return min(value * 100 / _BUCKETS, math.nextafter(100.0, 0.0))


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    admit: tuple[str, ...]
    rollout: Mapping[str, float]  # tier -> percent of its principals admitted (absent: all)

    def admits(self, tier: str) -> bool:
        return tier in self.admit


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    models: tuple[str, ...]
    max_seconds: int
    sizes: tuple[str, ...]
    limits: tuple[LimitSpec, ...]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    action: Action
    matcher: Matcher = field(repr=False)
    tiers: frozenset[str] | None  # None: every tier
    message: str | None
    shadow: bool
    # The classifier categories its `when` reads; empty for a rule that needs no classifier.
    categories: frozenset[str] = frozenset()

    def applies_to(self, tier: str) -> bool:
        return self.tiers is None or tier in self.tiers

    @property
    def uses_moderation(self) -> bool:
        return bool(self.categories)


@dataclass(frozen=True, slots=True)
class PassthroughRoute:
    """A route of the policy's `routes:` table: forwarded for the tiers it names."""

    method: str
    template: str  # as written: /v1/models/{model}
    pattern: re.Pattern[str] = field(repr=False)
    tiers: frozenset[str] | None  # None: every tier

    def allows(self, tier: str) -> bool:
        return self.tiers is None or tier in self.tiers


def route_pattern(template: str) -> re.Pattern[str]:
    """A `routes:` path as a pattern: each `{name}` matches one segment of id characters."""
    parts = [
        "[A-Za-z0-9._~-]{1,128}" if part.startswith("{") else re.escape(part)
        for part in template.split("/")
    ]
    return re.compile("/".join(parts))


@dataclass(frozen=True, slots=True)
class TierRefusal:
    """Why a request exceeds what its tier may ask for: 403 `model_not_allowed` or 400."""

    status: int
    code: str
    param: str
    message: str


@dataclass(frozen=True, slots=True)
class PolicySummary:
    phases: int
    tiers: int
    rules: int
    shadow_rules: int
    lists: int
    list_terms: int


def _refuse_model(message: str) -> TierRefusal:
    return TierRefusal(403, "model_not_allowed", "model", message)


def _bad(param: str, message: str) -> TierRefusal:
    return TierRefusal(400, "invalid_request", param, message)


def _check_seconds(seconds: object, tier: Tier) -> TierRefusal | None:
    # Absent: the model API's default applies, which every tier allows.
    if seconds is None:
        return None
    number = as_number(seconds)
    if number is None:
        return _bad("seconds", f"seconds must be a number (got {seconds!r}).")
    if number <= 0:
        return _bad("seconds", f"seconds must be more than 0 (got {seconds!r}).")
    if number > tier.max_seconds:
        return _bad(
            "seconds",
            f"seconds must be at most {tier.max_seconds} for the {tier.name} tier"
            f" (got {seconds!r}).",
        )
    return None


@dataclass(frozen=True, slots=True, eq=False)
class Policy:
    """One validated, compiled version of the policy files; immutable once built."""

    version: str  # sha256 hex of the merged files and word lists
    default_phase: str
    phases: tuple[Phase, ...]  # in rollout order
    tiers: Mapping[str, Tier]
    rules: tuple[Rule, ...]  # in policy order
    summary: PolicySummary
    routes: tuple[PassthroughRoute, ...] = ()
    moderation: ModerationService | None = None
    _phase_index: Mapping[str, Phase] = field(init=False, repr=False)
    _rules_by_tier: Mapping[str, tuple[Rule, ...]] = field(init=False, repr=False)
    _unscoped_rules: tuple[Rule, ...] = field(init=False, repr=False)
    _categories_by_tier: Mapping[str, frozenset[str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        index = {phase.name: phase for phase in self.phases}
        by_tier = {name: tuple(r for r in self.rules if r.applies_to(name)) for name in self.tiers}
        object.__setattr__(self, "_phase_index", index)
        object.__setattr__(self, "_rules_by_tier", by_tier)
        object.__setattr__(self, "_unscoped_rules", tuple(r for r in self.rules if r.tiers is None))
        categories = {
            name: frozenset().union(*(rule.categories for rule in rules))
            for name, rules in by_tier.items()
        }
        object.__setattr__(self, "_categories_by_tier", categories)

    @property
    def phase_names(self) -> tuple[str, ...]:
        return tuple(phase.name for phase in self.phases)

    def passthrough(self, method: str, path: str) -> PassthroughRoute | None:
        """The `routes:` entry a canonical path matches (None: the route is unknown)."""
        for route in self.routes:
            if route.method == method and route.pattern.fullmatch(path):
                return route
        return None

    def phase(self, name: str) -> Phase | None:
        return self._phase_index.get(name)

    def current_phase(self, stored: str | None) -> str:
        """The phase an admin set, or the policy's default when none is set. A stored
        phase this policy lacks is kept: it admits nobody (fail closed)."""
        return self.default_phase if stored is None else stored

    def admission(self, phase_name: str, tier: str, principal: str) -> Admission:
        """Whether the phase lets this principal of this tier in (a rollout is sticky)."""
        if tier not in self.tiers:
            return Admission.UNKNOWN_TIER
        phase = self._phase_index.get(phase_name)
        if phase is None or not phase.admits(tier):
            return Admission.TIER_NOT_IN_PHASE
        percent = phase.rollout.get(tier)
        if percent is None or percent >= 100 or rollout_bucket(principal, tier) < percent:
            return Admission.ADMITTED
        return Admission.WAITLISTED

    def check_tier(self, request: GenerationRequest, tier: str) -> TierRefusal | None:
        """The first way the request exceeds its tier (model, seconds, size), if any."""
        spec = self.tiers.get(tier)
        if spec is None:
            return _refuse_model(f"No model is available to the {tier} tier.")
        model = request.model or DEFAULT_MODEL
        if model not in spec.models:
            return _refuse_model(
                f"The model {model!r} is not available to the {tier} tier"
                f" (available: {', '.join(spec.models)}).",
            )
        refusal = _check_seconds(request.params.get("seconds"), spec)
        size = request.params.get("size")
        if refusal is None and size is not None and size not in spec.sizes:
            return _bad(
                "size",
                f"size must be one of {', '.join(spec.sizes)} for the {tier} tier (got {size!r}).",
            )
        return refusal

    def moderation_categories(self, tier: str) -> frozenset[str]:
        """The classifier categories the tier's rules read; empty: no classifier needed."""
        return self._categories_by_tier.get(tier, frozenset())

    def moderation_may_hold(self, tier: str) -> bool:
        """Whether the classifier's answer (or its failure) could hold a request of the tier."""
        if self.moderation is None or not self.moderation_categories(tier):
            return False
        if self.moderation.on_error is Action.HOLD:
            return True
        rules = self._rules_by_tier.get(tier, self._unscoped_rules)
        return any(r.uses_moderation and r.action is Action.HOLD and not r.shadow for r in rules)

    def evaluate(
        self,
        request: GenerationRequest,
        tier: str,
        moderation: Moderation | None = None,
        *,
        reading: Subject | None = None,
    ) -> Decision:
        """Every rule scoped to the tier, in order; the most severe enforced hit decides.

        `moderation` is the classifier's answer; without one, the rules that read it are
        passed over. When it failed, each such rule reads as the service's `on_error`
        action (`allow`: not matched). `reading`, a subject of a request with the same
        text, lends its readings of the text (see `Subject`).
        """
        subject = Subject(request, moderation, reading=reading)
        failed = isinstance(moderation, ModerationFailure)
        on_error = self.moderation.on_error if self.moderation else Action.DENY
        hits: list[RuleHit] = []
        action = Action.ALLOW
        for rule in self._rules_by_tier.get(tier, self._unscoped_rules):
            hit_action = rule.action
            if rule.categories:
                if moderation is None or (failed and on_error is Action.ALLOW):
                    continue
                if failed:
                    hit_action = on_error
            if (failed and rule.categories) or rule.matcher.mask(subject):
                hits.append(RuleHit(rule.id, hit_action, rule.shadow, rule.message))
                if not rule.shadow and hit_action > action:
                    action = hit_action
        return Decision(action, tuple(hits), self.version)
