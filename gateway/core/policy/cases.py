"""Policy test cases: requests with the decision a policy must reach, checked offline.

A case file holds `cases: [{name, tier, request: {model, prompt, seconds, size,
input_reference?, remix?}, expect: {decision, rules?}, moderation?}]`. `decision` is
`allow`, `flag`, `hold`, `deny` or `refused` (beyond the tier: model, seconds, size);
`rules`, when given, is every rule id that must match, shadow rules included, and no
other. `moderation` stands in for the classifier: scores by category (those not given
read 0), or `error` for a classifier that failed; without it the classifier finds
nothing (every score 0).

Case files are validated as strictly as policy files, with `file:line` errors; each
case is judged by `gateway.core.policy.judge`, as the gateway judges a request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, PlainValidator, ValidationError

from gateway.core.policy.compiled import Policy
from gateway.core.policy.errors import PolicyError
from gateway.core.policy.judge import Judgement, judge
from gateway.core.policy.messages import policy_errors
from gateway.core.policy.model import StrictModel
from gateway.core.policy.moderation import (
    CATEGORIES,
    Moderation,
    ModerationFailure,
    ModerationScores,
)
from gateway.core.policy.request import GenerationRequest, InputReference, ParamValue
from gateway.core.policy.source import PolicyFile, Source, parse_source

DECISIONS = ("allow", "flag", "hold", "deny", "refused")
# A stand-in attachment for `input_reference: true`: rules see only that there is one.
_ANY_REFERENCE = InputReference(size=1, sha256="0" * 64)


def _seconds(value: object) -> int | float | str:
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return value
    raise ValueError(f"must be a number or a string such as '8' (got {value!r})")


def _scores(value: object) -> dict[str, float] | str:
    if value == "error":
        return "error"
    given = value if isinstance(value, dict) else None
    if given is None:
        raise ValueError(f"must be scores by category, or error (got {value!r})")
    scores: dict[str, float] = {}
    for category, score in given.items():
        if category not in CATEGORIES:
            raise ValueError(
                f"names {category!r}, which is no moderation category"
                f" (categories: {', '.join(CATEGORIES)})"
            )
        if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
            raise ValueError(f"gives {category!r} the score {score!r}: give one from 0 to 1")
        scores[category] = float(score)
    return scores


class ReferenceModel(StrictModel):
    size: int = Field(default=1, gt=0)
    sha256: str = Field(default="0" * 64, pattern=r"^[0-9a-f]{64}$")
    content_type: str | None = Field(default=None, min_length=1)
    filename: str | None = Field(default=None, min_length=1)


class CaseRequestModel(StrictModel):
    prompt: str
    model: str | None = Field(default=None, min_length=1)
    seconds: Annotated[int | float | str | None, PlainValidator(_seconds)] = None
    size: str | None = Field(default=None, min_length=1)
    input_reference: bool | ReferenceModel = False
    remix: bool = False
    # The prompt as a multipart part in this Content-Transfer-Encoding (already encoded).
    transfer_encoding: Literal["base64", "quoted-printable"] | None = None


class ExpectModel(StrictModel):
    decision: Literal["allow", "flag", "hold", "deny", "refused"]
    rules: list[str] | None = None


class CaseModel(StrictModel):
    name: str = Field(min_length=1)
    tier: str = Field(min_length=1)
    request: CaseRequestModel
    expect: ExpectModel
    moderation: Annotated[dict[str, float] | str | None, PlainValidator(_scores)] = None


class CaseFileModel(StrictModel):
    cases: list[Any] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class Case:
    file: str
    line: int
    name: str
    tier: str
    request: GenerationRequest
    decision: str
    rules: tuple[str, ...] | None  # None: not checked
    moderation: Moderation

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class CaseResult:
    case: Case
    judgement: Judgement

    @property
    def decision(self) -> str:
        return self.judgement.label

    @property
    def rules(self) -> tuple[str, ...]:
        return self.judgement.rule_ids

    @property
    def passed(self) -> bool:
        if self.decision != self.case.decision:
            return False
        expected = self.case.rules
        return expected is None or sorted(expected) == sorted(self.rules)

    def __str__(self) -> str:
        """`file:line: case 'x' (tier): expected ..., got ...` for a failure."""
        case = self.case
        wanted = _described(case.decision, case.rules)
        got = _described(self.decision, self.rules if case.rules is not None else None)
        return f"{case.where}: case {case.name!r} ({case.tier}): expected {wanted}, got {got}"


def _described(decision: str, rules: Sequence[str] | None) -> str:
    if rules is None:
        return decision
    return f"{decision} with rules [{', '.join(rules)}]"


def _request(model: CaseRequestModel) -> GenerationRequest:
    params: dict[str, ParamValue] = {}
    if model.seconds is not None:
        params["seconds"] = model.seconds
    if model.size is not None:
        params["size"] = model.size
    reference = model.input_reference
    attached = (
        InputReference(
            reference.size, reference.sha256, reference.content_type, filename=reference.filename
        )
        if isinstance(reference, ReferenceModel)
        else _ANY_REFERENCE
        if reference
        else None
    )
    encodings = {"prompt": model.transfer_encoding} if model.transfer_encoding else {}
    return GenerationRequest(
        model.prompt, model.model, params, attached, model.remix, transfer_encodings=encodings
    )


def _moderation(value: dict[str, float] | str | None) -> Moderation:
    if value == "error":
        return ModerationFailure("the case says the classifier failed")
    return ModerationScores(value if isinstance(value, dict) else {})


def _check(case: CaseModel, policy: Policy, source: Source, index: int) -> list[PolicyError]:
    errors: list[PolicyError] = []
    where = ("cases", index)
    if case.tier not in policy.tiers:
        tiers = ", ".join(sorted(policy.tiers))
        errors.append(
            source.at(
                (*where, "tier"),
                f"case {case.name!r}: unknown tier {case.tier!r} (tiers: {tiers})",
            )
        )
    known = {rule.id for rule in policy.rules}
    for position, rule_id in enumerate(case.expect.rules or ()):
        if rule_id not in known:
            errors.append(
                source.at(
                    (*where, "expect", "rules", position),
                    f"case {case.name!r}: expects unknown rule {rule_id!r}",
                )
            )
    return errors


def load_cases(files: Sequence[PolicyFile], policy: Policy) -> tuple[list[Case], list[PolicyError]]:
    """The cases of every file, and every problem found in them (tiers and rule ids are
    checked against `policy`)."""
    cases: list[Case] = []
    errors: list[PolicyError] = []
    for file in files:
        source, found = parse_source(file.name, file.text)
        errors.extend(found)
        if source is None:
            continue
        data = source.data
        try:
            CaseFileModel.model_validate(data if data != {} else {"cases": []})
        except ValidationError as exc:
            errors.extend(policy_errors(exc, source, (), CaseFileModel))
            continue
        items = data.get("cases", []) if isinstance(data, dict) else []
        for index, item in enumerate(items):
            path = ("cases", index)
            try:
                case = CaseModel.model_validate(item)
            except ValidationError as exc:
                errors.extend(policy_errors(exc, source, path, CaseModel))
                continue
            problems = _check(case, policy, source, index)
            errors.extend(problems)
            if problems:
                continue
            cases.append(
                Case(
                    file=file.name,
                    line=source.line(path),
                    name=case.name,
                    tier=case.tier,
                    request=_request(case.request),
                    decision=case.expect.decision,
                    rules=tuple(case.expect.rules) if case.expect.rules is not None else None,
                    moderation=_moderation(case.moderation),
                )
            )
    return cases, errors


def run_case(policy: Policy, case: Case) -> CaseResult:
    moderation = case.moderation if policy.moderation_categories(case.tier) else None
    return CaseResult(case, judge(policy, case.request, case.tier, moderation))
