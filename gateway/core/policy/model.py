"""The shape of the policy files as pydantic models: strict types, no unknown keys.

Each model validates one piece of one file (a phase, a tier, a rule); the loader
merges the pieces and checks the references between them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, field_validator, model_validator

from gateway.core.policy.moderation import CATEGORIES
from gateway.core.units import parse_duration

Scalar = str | int | float | bool

MATCHER_KINDS = (
    "prompt_matches_any",
    "prompt_regex",
    "param",
    "model",
    "has_input_reference",
    "is_remix",
    "moderation",
    "all",
    "any",
    "not",
)
COMPARATORS = ("gt", "ge", "lt", "le", "eq", "in")
_SIZE = re.compile(r"[1-9][0-9]*x[1-9][0-9]*")


@dataclass(frozen=True, slots=True)
class ListRef:
    """`{list: NAME}`: the terms of a declared word list."""

    name: str


def _number(value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    raise ValueError(f"must be a number (got {value!r})")


def _scalar(value: object) -> Scalar:
    if isinstance(value, str | int | float | bool):
        return value
    raise ValueError(f"must be a string, number or boolean (got {value!r})")


def _scalars(value: object) -> tuple[Scalar, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"must be a non-empty list of values (got {value!r})")
    return tuple(_scalar(item) for item in value)


def _terms(value: object) -> tuple[str, ...] | ListRef:
    if isinstance(value, list) and value:
        for item in value:
            if not isinstance(item, str) or not item.strip():
                raise ValueError(f"must hold non-empty words or phrases (got {item!r})")
        return tuple(value)
    if isinstance(value, dict) and list(value) == ["list"]:
        name = value["list"]
        if isinstance(name, str) and name:
            return ListRef(name)
    raise ValueError(
        f"must be a non-empty list of words or phrases, or {{list: NAME}} (got {value!r})"
    )


def _duration(value: object) -> float:
    try:
        if isinstance(value, str):
            return parse_duration(value)
    except ValueError:
        pass
    raise ValueError(f"must be a duration longer than zero such as 90s, 15m or 1d (got {value!r})")


class NoValue(ValueError):
    """`key:` written with nothing after it."""

    def __init__(self, key: str) -> None:
        super().__init__(f"has no value for {key!r}")
        self.key = key


class StrictModel(BaseModel):
    """Unknown keys are errors, values are never coerced, and `key:` with no value is refused."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_empty_values(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, value in data.items():
                if value is None:
                    raise NoValue(key)
        return data


def _category(value: object) -> str:
    if isinstance(value, str) and value in CATEGORIES:
        return value
    raise ValueError(
        f"must be a moderation category: one of {', '.join(CATEGORIES)} (got {value!r})"
    )


def _score(value: object) -> float:
    number = _number(value)
    if not 0 <= number <= 1:
        raise ValueError(f"must be a score from 0 to 1 (got {value!r})")
    return number


class ModerationMatchModel(StrictModel):
    """`{moderation: {category: NAME, ge: SCORE}}`: the classifier's score for a category."""

    category: Annotated[str, PlainValidator(_category)]
    ge: Annotated[float, PlainValidator(_score)]


class MatcherModel(StrictModel):
    """One node of a rule's `when` tree: exactly one kind of test."""

    prompt_matches_any: Annotated[tuple[str, ...] | ListRef | None, PlainValidator(_terms)] = None
    prompt_regex: str | None = Field(default=None, min_length=1)
    param: str | None = Field(default=None, min_length=1)
    gt: Annotated[float | None, PlainValidator(_number)] = None
    ge: Annotated[float | None, PlainValidator(_number)] = None
    lt: Annotated[float | None, PlainValidator(_number)] = None
    le: Annotated[float | None, PlainValidator(_number)] = None
    eq: Annotated[Scalar | None, PlainValidator(_scalar)] = None
    in_: Annotated[tuple[Scalar, ...] | None, PlainValidator(_scalars)] = Field(
        default=None, alias="in"
    )
    model: list[str] | None = Field(default=None, min_length=1)
    has_input_reference: bool | None = None
    is_remix: bool | None = None
    moderation: ModerationMatchModel | None = None
    all_: list[MatcherModel] | None = Field(default=None, alias="all", min_length=1)
    any_: list[MatcherModel] | None = Field(default=None, alias="any", min_length=1)
    not_: MatcherModel | None = Field(default=None, alias="not")

    @field_validator("prompt_regex")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"does not compile: {exc}") from None
        return pattern

    @property
    def given(self) -> list[str]:
        """The keys written in this node, by their YAML names."""
        fields = type(self).model_fields
        return [fields[name].alias or name for name in self.model_fields_set]

    @property
    def kind(self) -> str:
        return next(kind for kind in MATCHER_KINDS if kind in self.given)

    @property
    def comparator(self) -> str:
        return next(comparator for comparator in COMPARATORS if comparator in self.given)

    @model_validator(mode="after")
    def _one_kind(self) -> MatcherModel:
        given = self.given
        kinds = [kind for kind in MATCHER_KINDS if kind in given]
        comparators = [comparator for comparator in COMPARATORS if comparator in given]
        if len(kinds) > 1:
            raise ValueError(
                f"mixes {' and '.join(kinds)}: give one test per matcher"
                " and combine them with all or any"
            )
        if not kinds and not comparators:
            raise ValueError(f"is empty: give one of {', '.join(MATCHER_KINDS)}")
        if kinds != ["param"]:
            if comparators:
                raise ValueError(f"uses {comparators[0]} without param")
            return self
        if not comparators:
            raise ValueError(
                f"needs a comparison for param {self.param!r}: one of gt, ge, lt, le, eq, in"
            )
        if len(comparators) > 1:
            raise ValueError(
                f"compares param {self.param!r} with {' and '.join(comparators)}:"
                " give one comparison per matcher and combine them with all"
            )
        return self


class LimitModel(StrictModel):
    """A rate limit (GCRA), a cost-weighted rate limit, or a concurrency limit."""

    name: str = Field(min_length=1)
    per: Literal["principal", "client", "tier"]
    rate: int | None = Field(default=None, gt=0)
    period: Annotated[float | None, PlainValidator(_duration)] = None
    burst: int | None = Field(default=None, gt=0)
    cost: str | None = Field(default=None, min_length=1)
    concurrency: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_kind(self) -> LimitModel:
        if self.concurrency is not None:
            mixed = [
                key for key in ("rate", "period", "burst", "cost") if key in self.model_fields_set
            ]
            if mixed:
                raise ValueError(f"cannot combine concurrency with {', '.join(mixed)}")
            return self
        missing = [key for key in ("rate", "period") if key not in self.model_fields_set]
        if missing:
            raise ValueError(
                f"needs {' and '.join(missing)}: a limit has rate and period"
                " (with optional burst or cost), or concurrency alone"
            )
        return self


class PhaseModel(StrictModel):
    name: str = Field(min_length=1)
    admit: list[str]
    rollout: dict[str, Annotated[float, Field(ge=0, le=100)]] = Field(default_factory=dict)


class TierModel(StrictModel):
    models: list[str] = Field(min_length=1)
    max_seconds: int = Field(gt=0)
    sizes: list[str] = Field(min_length=1)
    limits: list[LimitModel] = Field(default_factory=list)

    @field_validator("sizes")
    @classmethod
    def _sizes(cls, sizes: list[str]) -> list[str]:
        for size in sizes:
            if not _SIZE.fullmatch(size):
                raise ValueError(f"must be WIDTHxHEIGHT such as 1280x720 (got {size!r})")
        return sizes


class RuleModel(StrictModel):
    id: str = Field(min_length=1)
    when: MatcherModel
    action: Literal["deny", "hold", "flag", "allow"]
    tiers: list[str] | None = Field(default=None, min_length=1)
    message: str | None = Field(default=None, min_length=1)
    mode: Literal["enforce", "shadow"] = "enforce"


# A literal segment or a `{name}` placeholder: only characters no server decodes or
# normalises, so the path a route matches is the path forwarded, byte for byte.
_ROUTE_SEGMENT = re.compile(r"[A-Za-z0-9_~-][A-Za-z0-9._~-]*|\{[A-Za-z_][A-Za-z0-9_]*\}")


class RouteModel(StrictModel):
    """A route forwarded besides the documented ones: `{method, path, tiers}`."""

    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    path: str = Field(min_length=2)
    tiers: list[str] | None = Field(default=None, min_length=1)

    @field_validator("path")
    @classmethod
    def _path(cls, path: str) -> str:
        segments = path.split("/")
        if segments[0] != "" or not all(_ROUTE_SEGMENT.fullmatch(s) for s in segments[1:]):
            raise ValueError(
                "must be /segment/segment... of letters, digits, '-', '_', '~' and inner"
                " '.', or {name} placeholders (no '//', no trailing '/', no escapes)"
                f" (got {path!r})"
            )
        names = [s[1:-1] for s in segments if s.startswith("{")]
        if len(set(names)) != len(names):
            raise ValueError(f"names a placeholder twice (got {path!r})")
        return path


def _service_url(value: object) -> str:
    if isinstance(value, str) and re.fullmatch(r"https?://[^/\s?#]+[^\s]*", value):
        return value
    raise ValueError(f"must be an http:// or https:// URL (got {value!r})")


class ModerationModel(StrictModel):
    """The top-level `moderation:` key: the classifier that moderation rules consult."""

    url: Annotated[str, PlainValidator(_service_url)]
    timeout: Annotated[float, PlainValidator(_duration)]
    on_error: Literal["deny", "hold", "allow"]
    model: str | None = Field(default=None, min_length=1)


class ListModel(StrictModel):
    """A word list declared as `{file: PATH, fuzzy: 1}` rather than by its path alone."""

    file: str = Field(min_length=1)
    fuzzy: Literal[0, 1] = 0


class FileModel(StrictModel):
    """The top level of one file; phases, tiers and rules are validated one by one."""

    version: int = 0
    default_phase: str = Field(default="", min_length=1)
    phases: list[Any] = Field(default_factory=list, min_length=1)
    tiers: dict[str, Any] = Field(default_factory=dict)
    rules: list[Any] = Field(default_factory=list)
    lists: dict[str, Any] = Field(default_factory=dict)
    routes: list[Any] = Field(default_factory=list)
    moderation: Any = None
