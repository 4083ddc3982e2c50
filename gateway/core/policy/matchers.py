"""A rule's `when` tree compiled into matchers: regexes and term lists built once."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Protocol

from gateway.core.numbers import as_number
from gateway.core.policy.model import ListRef, MatcherModel, Scalar
from gateway.core.policy.moderation import Moderation, ModerationScores
from gateway.core.policy.normalize import NormalizedText, TermMatcher, normalize
from gateway.core.policy.request import GenerationRequest

DEFAULT_MODEL = "sora-2"  # what the model API uses when a request names none

_ORDER: dict[str, Callable[[float, float], bool]] = {
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
    "eq": operator.eq,
}


def _text(value: object) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _equal(actual: object, expected: Scalar) -> bool:
    number, wanted = as_number(actual), as_number(expected)
    if number is not None and wanted is not None:
        return number == wanted
    return _text(actual) == _text(expected)


class Subject:
    """One request under evaluation; its prompt is normalised at most once, and each term
    list is matched against it at most once, however many rules use that list."""

    __slots__ = ("_normalized", "_term_results", "_words", "model", "moderation", "request")

    def __init__(
        self,
        request: GenerationRequest,
        moderation: Moderation | None = None,
        *,
        reading: Subject | None = None,
    ) -> None:
        self.request = request
        self.model = request.model or DEFAULT_MODEL
        self.moderation = moderation
        self._normalized: NormalizedText | None = None
        self._words: frozenset[str] | None = None
        self._term_results: dict[int, bool] = {}
        if reading is not None and _text_key_of(reading.request) == _text_key_of(request):
            # The same text read before (a replay's cache): its readings and term results
            # hold for this request too, and what this one reads is kept for the next.
            reading._read()
            self._normalized, self._words = reading._normalized, reading._words
            self._term_results = reading._term_results

    def _read(self) -> None:
        self._words = self.words

    @property
    def prompt(self) -> NormalizedText:
        if self._normalized is None:
            self._normalized = normalize(self.request.prompt)
        return self._normalized

    @property
    def words(self) -> frozenset[str]:
        """Every word the prompt can be read as: its tokens and their alternative readings."""
        if self._words is None:
            prompt = self.prompt
            self._words = frozenset(prompt.tokens).union(a.word for a in prompt.alternatives)
        return self._words

    def matches_terms(self, terms: TermMatcher) -> bool:
        known = self._term_results.get(id(terms))
        if known is None:
            # Most lists share no word with most prompts: one set operation rules them out.
            known = not terms.first_words.isdisjoint(self.words) and (
                terms.first_match(self.prompt) is not None
            )
            self._term_results[id(terms)] = known
        return known


def text_key(prompt: str, params: Mapping[str, object]) -> Hashable:
    """What a subject's readings of text depend on, of a request's prompt and other
    fields: requests with the same key may share them (see `Subject`'s `reading`)."""
    return prompt


def _text_key_of(request: GenerationRequest) -> Hashable:
    return text_key(request.prompt, request.params)


class Matcher(Protocol):
    def matches(self, subject: Subject) -> bool: ...


@dataclass(frozen=True, slots=True)
class PromptTerms:
    terms: TermMatcher

    def matches(self, subject: Subject) -> bool:
        return subject.matches_terms(self.terms)


@dataclass(frozen=True, slots=True)
class PromptRegex:
    pattern: re.Pattern[str]

    def matches(self, subject: Subject) -> bool:
        # The normalised text, and its leetspeak/spelled-out reading where that differs.
        return any(self.pattern.search(view) for view in subject.prompt.regex_views())


@dataclass(frozen=True, slots=True)
class ParamCompare:
    """`{param: NAME, gt|ge|lt|le|eq: V}`; a missing parameter never matches."""

    name: str
    op: str
    value: Scalar

    def matches(self, subject: Subject) -> bool:
        actual = subject.request.params.get(self.name)
        if actual is None:
            return False
        if self.op == "eq":
            return _equal(actual, self.value)
        number, wanted = as_number(actual), as_number(self.value)
        return number is not None and wanted is not None and _ORDER[self.op](number, wanted)


@dataclass(frozen=True, slots=True)
class ParamIn:
    name: str
    values: tuple[Scalar, ...]

    def matches(self, subject: Subject) -> bool:
        actual = subject.request.params.get(self.name)
        return actual is not None and any(_equal(actual, value) for value in self.values)


@dataclass(frozen=True, slots=True)
class ModelIn:
    models: frozenset[str]

    def matches(self, subject: Subject) -> bool:
        return subject.model in self.models


@dataclass(frozen=True, slots=True)
class HasInputReference:
    expected: bool

    def matches(self, subject: Subject) -> bool:
        return subject.request.has_input_reference == self.expected


@dataclass(frozen=True, slots=True)
class IsRemix:
    expected: bool

    def matches(self, subject: Subject) -> bool:
        return subject.request.is_remix == self.expected


@dataclass(frozen=True, slots=True)
class ModerationScore:
    """`{moderation: {category, ge}}`; without the classifier's scores it never matches."""

    category: str
    ge: float

    def matches(self, subject: Subject) -> bool:
        scores = subject.moderation
        return isinstance(scores, ModerationScores) and scores.score(self.category) >= self.ge


@dataclass(frozen=True, slots=True)
class AllOf:
    children: tuple[Matcher, ...]

    def matches(self, subject: Subject) -> bool:
        return all(child.matches(subject) for child in self.children)


@dataclass(frozen=True, slots=True)
class AnyOf:
    children: tuple[Matcher, ...]

    def matches(self, subject: Subject) -> bool:
        return any(child.matches(subject) for child in self.children)


@dataclass(frozen=True, slots=True)
class Not:
    child: Matcher

    def matches(self, subject: Subject) -> bool:
        return not self.child.matches(subject)


TermsFor = Callable[[tuple[str, ...] | ListRef], TermMatcher]


def _param(node: MatcherModel, terms_for: TermsFor) -> Matcher:
    name, comparator = node.param or "", node.comparator
    if comparator == "in":
        return ParamIn(name, node.in_ or ())
    value: Scalar = getattr(node, comparator)
    return ParamCompare(name, comparator, value)


def _children(nodes: list[MatcherModel] | None, terms_for: TermsFor) -> tuple[Matcher, ...]:
    return tuple(compile_matcher(child, terms_for) for child in nodes or ())


_COMPILERS: dict[str, Callable[[MatcherModel, TermsFor], Matcher]] = {
    "prompt_matches_any": lambda node, terms_for: PromptTerms(
        terms_for(node.prompt_matches_any or ())
    ),
    "prompt_regex": lambda node, _: PromptRegex(re.compile(node.prompt_regex or "", re.IGNORECASE)),
    "param": _param,
    "model": lambda node, _: ModelIn(frozenset(node.model or ())),
    "has_input_reference": lambda node, _: HasInputReference(bool(node.has_input_reference)),
    "is_remix": lambda node, _: IsRemix(bool(node.is_remix)),
    "moderation": lambda node, _: ModerationScore(
        node.moderation.category if node.moderation else "",
        node.moderation.ge if node.moderation else 1.0,
    ),
    "all": lambda node, terms_for: AllOf(_children(node.all_, terms_for)),
    "any": lambda node, terms_for: AnyOf(_children(node.any_, terms_for)),
    "not": lambda node, terms_for: Not(_children([node.not_] if node.not_ else [], terms_for)[0]),
}


def moderation_categories(node: MatcherModel) -> frozenset[str]:
    """The classifier categories a `when` tree reads (empty: it needs no classifier)."""
    found = {node.moderation.category} if node.moderation is not None else set()
    for child in (*(node.all_ or ()), *(node.any_ or ()), *([node.not_] if node.not_ else [])):
        found |= moderation_categories(child)
    return frozenset(found)


def compile_matcher(node: MatcherModel, terms_for: TermsFor) -> Matcher:
    """The matcher for a validated `when` node; `terms_for` shares term matchers."""
    return _COMPILERS[node.kind](node, terms_for)
