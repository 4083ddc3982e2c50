"""A rule's `when` tree compiled into matchers: regexes and term lists built once."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Protocol

from gateway.core.numbers import as_number
from gateway.core.policy.decoding import decode_field
from gateway.core.policy.model import ListRef, MatcherModel, Scalar
from gateway.core.policy.moderation import Moderation, ModerationScores
from gateway.core.policy.normalize import normalize
from gateway.core.policy.request import GenerationRequest
from gateway.core.policy.terms import (
    ALL_KINDS,
    PLAIN,
    REVERSED,
    ROT13,
    TermMatcher,
    Vocabulary,
    rot13,
)

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


# Fields joined into one text are kept apart by more punctuation than a spelled-out word
# may hold between its letters, so no word is read across two fields.
_FIELD_SEPARATOR = " |||| "
# Parameter values that are numbers or sizes say nothing a word list could match.
_NOT_TEXT = re.compile(r"[0-9.x]*")


def _text_fields(request: GenerationRequest) -> list[tuple[str, str]]:
    """Every field a caller wrote text into, by name: the prompt, the other text
    parameters and the reference image's file name."""
    fields = [("prompt", request.prompt)]
    fields += [
        (name, value)
        for name, value in request.params.items()
        if isinstance(value, str) and not _NOT_TEXT.fullmatch(value)
    ]
    reference = request.input_reference
    if reference is not None and reference.filename:
        fields.append(("input_reference", reference.filename))
    return fields


class _Reading:
    """One text of a request (as sent, or decoded) normalised, and its word set."""

    __slots__ = ("_views", "normalized", "vocabulary")

    def __init__(self, text: str) -> None:
        self.normalized = normalize(text)
        self.vocabulary = Vocabulary(
            frozenset(self.normalized.tokens).union(a.word for a in self.normalized.alternatives)
        )
        self._views: tuple[tuple[int, tuple[str, ...]], ...] | None = None

    def regex_views(self) -> tuple[tuple[int, tuple[str, ...]], ...]:
        """The strings a regex searches, by the kind of reading they are."""
        if self._views is None:
            plain = self.normalized.regex_views()
            self._views = (
                (PLAIN, plain),
                (REVERSED, tuple(view[::-1] for view in plain)),
                (ROT13, tuple(map(rot13, plain))),
            )
        return self._views


class Subject:
    """One request under evaluation. Its text fields are joined, normalised once, and,
    where a decoding layer changes them, decoded and normalised once more; each term
    list is matched against it at most once, however many rules use that list.

    A test answers with the readings (`PLAIN`, `REVERSED`, `ROT13` bits) it holds in;
    a rule matches when its whole `when` holds in one reading."""

    __slots__ = ("_readings", "_term_results", "layers", "model", "moderation", "request")

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
        self._readings: tuple[_Reading, ...] | None = None
        self._term_results: dict[int, int] = {}
        # The decoding layers that changed the text (HTML entities, base64...), in order.
        self.layers: tuple[str, ...] = ()
        if reading is not None and _text_key_of(reading.request) == _text_key_of(request):
            # The same text read before (a replay's cache): its readings and term results
            # hold for this request too, and what this one reads is kept for the next.
            self._readings, self.layers = reading.readings, reading.layers
            self._term_results = reading._term_results

    @property
    def readings(self) -> tuple[_Reading, ...]:
        """The text as sent, then decoded if any decoding layer changed it."""
        if self._readings is None:
            fields = _text_fields(self.request)
            encodings = self.request.transfer_encodings
            raw = _FIELD_SEPARATOR.join(value for _, value in fields)
            decoded = [decode_field(value, encodings.get(name)) for name, value in fields]
            readings = [_Reading(raw)]
            if any(decoded):
                layers: dict[str, None] = {}
                for result in decoded:
                    layers.update(dict.fromkeys(result.layers if result else ()))
                self.layers = tuple(layers)
                texts = [d.text if d else v for d, (_, v) in zip(decoded, fields, strict=True)]
                readings.append(_Reading(_FIELD_SEPARATOR.join(texts)))
            self._readings = tuple(readings)
        return self._readings

    def term_kinds(self, terms: TermMatcher) -> int:
        known = self._term_results.get(id(terms))
        if known is None:
            known = 0
            for reading in self.readings:
                known |= terms.kinds(reading.normalized, reading.vocabulary)
            self._term_results[id(terms)] = known
        return known


def text_key(prompt: str, params: Mapping[str, object], filename: str | None = None) -> Hashable:
    """What a subject's readings of text depend on, of a request's prompt, other fields
    and reference file name: requests with the same key may share them (see `Subject`'s
    `reading`)."""
    texts = tuple(value for value in params.values() if isinstance(value, str))
    if filename is not None:
        return (prompt, texts, filename)
    return (prompt, texts) if texts else prompt


def _text_key_of(request: GenerationRequest) -> Hashable:
    reference = request.input_reference
    key = text_key(request.prompt, request.params, reference.filename if reference else None)
    if not request.transfer_encodings:
        return key
    return (key, tuple(sorted(request.transfer_encodings.items())))


class Matcher(Protocol):
    def mask(self, subject: Subject) -> int:
        """The readings (`ALL_KINDS` bits) in which the test holds; 0: none."""
        ...


def _all(holds: bool) -> int:
    """A test that does not read the text holds in every reading or in none."""
    return ALL_KINDS if holds else 0


@dataclass(frozen=True, slots=True)
class PromptTerms:
    terms: TermMatcher

    def mask(self, subject: Subject) -> int:
        return subject.term_kinds(self.terms)


@dataclass(frozen=True, slots=True)
class PromptRegex:
    pattern: re.Pattern[str]

    def mask(self, subject: Subject) -> int:
        # The normalised text, and its leetspeak/spelled-out reading where that differs,
        # as written, reversed and in ROT13, of the text as sent and decoded.
        found = 0
        search = self.pattern.search
        for reading in subject.readings:
            for kind, views in reading.regex_views():
                if not found & kind and any(search(view) for view in views):
                    found |= kind
        return found


@dataclass(frozen=True, slots=True)
class ParamCompare:
    """`{param: NAME, gt|ge|lt|le|eq: V}`; a missing parameter never matches."""

    name: str
    op: str
    value: Scalar

    def mask(self, subject: Subject) -> int:
        actual = subject.request.params.get(self.name)
        if actual is None:
            return 0
        if self.op == "eq":
            return _all(_equal(actual, self.value))
        number, wanted = as_number(actual), as_number(self.value)
        return _all(number is not None and wanted is not None and _ORDER[self.op](number, wanted))


@dataclass(frozen=True, slots=True)
class ParamIn:
    name: str
    values: tuple[Scalar, ...]

    def mask(self, subject: Subject) -> int:
        actual = subject.request.params.get(self.name)
        return _all(actual is not None and any(_equal(actual, value) for value in self.values))


@dataclass(frozen=True, slots=True)
class ModelIn:
    models: frozenset[str]

    def mask(self, subject: Subject) -> int:
        return _all(subject.model in self.models)


@dataclass(frozen=True, slots=True)
class HasInputReference:
    expected: bool

    def mask(self, subject: Subject) -> int:
        return _all(subject.request.has_input_reference == self.expected)


@dataclass(frozen=True, slots=True)
class IsRemix:
    expected: bool

    def mask(self, subject: Subject) -> int:
        return _all(subject.request.is_remix == self.expected)


@dataclass(frozen=True, slots=True)
class ModerationScore:
    """`{moderation: {category, ge}}`; without the classifier's scores it never matches."""

    category: str
    ge: float

    def mask(self, subject: Subject) -> int:
        scores = subject.moderation
        return _all(isinstance(scores, ModerationScores) and scores.score(self.category) >= self.ge)


@dataclass(frozen=True, slots=True)
class AllOf:
    children: tuple[Matcher, ...]

    def mask(self, subject: Subject) -> int:
        found = ALL_KINDS
        for child in self.children:
            found &= child.mask(subject)
            if not found:
                break
        return found


@dataclass(frozen=True, slots=True)
class AnyOf:
    children: tuple[Matcher, ...]

    def mask(self, subject: Subject) -> int:
        found = 0
        for child in self.children:
            found |= child.mask(subject)
            if found == ALL_KINDS:
                break
        return found


@dataclass(frozen=True, slots=True)
class Not:
    child: Matcher

    def mask(self, subject: Subject) -> int:
        # Not found in any reading: the prompt read every way holds no match.
        return _all(not self.child.mask(subject))


TermSpec = tuple[str, ...] | ListRef
# The one matcher of any of these term sets (inline terms or lists), shared by every rule.
TermsFor = Callable[[tuple[TermSpec, ...]], TermMatcher]


def _param(node: MatcherModel, terms_for: TermsFor) -> Matcher:
    name, comparator = node.param or "", node.comparator
    if comparator == "in":
        return ParamIn(name, node.in_ or ())
    value: Scalar = getattr(node, comparator)
    return ParamCompare(name, comparator, value)


def _any(nodes: list[MatcherModel], terms_for: TermsFor) -> Matcher:
    """`any` of term lists alone (one list per language, say) is one matcher of them all:
    a prompt is walked once for the lot rather than once per list."""
    specs = [node.prompt_matches_any for node in nodes]
    if all(spec is not None for spec in specs):
        return PromptTerms(terms_for(tuple(spec for spec in specs if spec is not None)))
    return AnyOf(_children(nodes, terms_for))


def _children(nodes: list[MatcherModel] | None, terms_for: TermsFor) -> tuple[Matcher, ...]:
    return tuple(compile_matcher(child, terms_for) for child in nodes or ())


_COMPILERS: dict[str, Callable[[MatcherModel, TermsFor], Matcher]] = {
    "prompt_matches_any": lambda node, terms_for: PromptTerms(
        terms_for((node.prompt_matches_any or (),))
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
    "any": lambda node, terms_for: _any(node.any_ or [], terms_for),
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
