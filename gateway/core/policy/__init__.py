"""Rollout and usage policy: the YAML model, its compiled form, and how it judges requests."""

from gateway.core.policy.compiled import (
    Phase,
    Policy,
    PolicySummary,
    Rule,
    Tier,
    TierRefusal,
    rollout_bucket,
)
from gateway.core.policy.decision import Action, Admission, Decision, RuleHit
from gateway.core.policy.errors import PolicyError, PolicyErrors
from gateway.core.policy.limits import LimitKind, LimitScope, LimitSpec
from gateway.core.policy.loader import ReadList, load_policy
from gateway.core.policy.request import GenerationRequest, InputReference, ParamValue
from gateway.core.policy.source import PolicyFile, parse_terms, policy_version

__all__ = [
    "Action",
    "Admission",
    "Decision",
    "GenerationRequest",
    "InputReference",
    "LimitKind",
    "LimitScope",
    "LimitSpec",
    "ParamValue",
    "Phase",
    "Policy",
    "PolicyError",
    "PolicyErrors",
    "PolicyFile",
    "PolicySummary",
    "ReadList",
    "Rule",
    "RuleHit",
    "Tier",
    "TierRefusal",
    "load_policy",
    "parse_terms",
    "policy_version",
    "rollout_bucket",
]
