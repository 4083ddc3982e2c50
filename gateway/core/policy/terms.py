"""Word lists compiled for matching against normalised prompts.

A listed term is a word or a phrase (its tokens, normalised like a prompt). It matches
whole tokens only: listed `ass` never matches `class` or `passage`. Everything a term
may look like in a prompt is worked out once, when the policy is compiled:

- each word's regular plurals and inflections in the list's language, and the word
  with one letter doubled (see `inflection`);
- a phrase written as one glued word (`primeminister`), which also catches the letters
  of a phrase spaced out, since `normalize` joins spelled-out letters into one word;
  only for a phrase that starts and ends with a word of 4+ letters, so `the rapist`
  never reads into `therapist`;
- the term reversed (`retsinim emirp`) and in ROT13 (`cevzr zvavfgre`), recorded as
  other *kinds* of match: a prompt matches a rule in one reading, as written, reversed
  or in ROT13, so a reversed word that happens to be an ordinary word (Spanish `aún`
  read backwards) cannot combine with another list's word read forwards;
- for a list with `fuzzy: 1`, any word of 6 or more letters at edit distance 1
  (a letter dropped, added or replaced), found through the word's one-letter deletions.

Matching walks the prompt once: at each token it looks up the token and the alternative
readings starting there (see `normalize`), then checks the rest of each candidate
phrase, so its cost does not grow with the size of the list.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.core.policy.inflection import doubled, inflections
from gateway.core.policy.normalize import NormalizedText, term_tokens

__all__ = [
    "ALL_KINDS",
    "PLAIN",
    "REVERSED",
    "ROT13",
    "TermGroup",
    "TermMatcher",
    "Vocabulary",
    "rot13",
]

# The readings a match is found in, as bits of a mask.
PLAIN = 1
REVERSED = 2
ROT13 = 4
ALL_KINDS = PLAIN | REVERSED | ROT13
# `fuzzy: 1` applies to words of at least this many letters.
FUZZY_MIN = 6
_GLUED_END = 4
_AFFIX = 3  # an edit of a word of 6+ letters leaves its first or its last 3 letters


def rot13(text: str) -> str:
    return codecs.encode(text, "rot13")


@dataclass(frozen=True, slots=True)
class TermGroup:
    """Terms of one language, and the edit distance allowed to their long words."""

    terms: Iterable[str]
    language: str = "en"
    fuzzy: int = 0


@dataclass(frozen=True, slots=True)
class _Term:
    slots: tuple[frozenset[str], ...]  # the forms each word of the term may take
    listed: str
    order: int
    kind: int


Extra = dict[int, list[tuple[int, str]]]


class Vocabulary:
    """Every word a prompt can be read as, and (made on first use, once per prompt) the
    one-letter deletions of its longer words, for fuzzy lists."""

    __slots__ = ("_variants", "words")

    def __init__(self, words: frozenset[str]) -> None:
        self.words = words
        self._variants: dict[str, frozenset[str]] = {}

    def variants(self, word: str) -> frozenset[str]:
        """The word and its one-letter deletions, made once per prompt."""
        found = self._variants.get(word)
        if found is None:
            found = self._variants[word] = frozenset({word, *_deletions(word)})
        return found


class _Fuzzy:
    """The words of 6+ letters of a `fuzzy: 1` list, indexed by their one-letter deletions."""

    __slots__ = ("_deletions", "_keys", "_prefixes", "_suffixes", "_words")

    def __init__(self, words: Iterable[str]) -> None:
        self._words = frozenset(w for w in words if len(w) >= FUZZY_MIN and w.isalpha())
        self._deletions: dict[str, set[str]] = {}
        for word in self._words:
            for deleted in _deletions(word):
                self._deletions.setdefault(deleted, set()).add(word)
        # A word one edit from a listed one shares a deletion with it or is one.
        self._keys = self._words | self._deletions.keys()
        self._prefixes = frozenset(w[:_AFFIX] for w in self._words)
        self._suffixes = frozenset(w[-_AFFIX:] for w in self._words)

    def near_words(self, vocabulary: Vocabulary) -> dict[str, set[str]]:
        """The prompt's words one edit away from listed words, and those listed words.
        Only words sharing their first or last 3 letters with a listed word are tried."""
        prefixes, suffixes, keys = self._prefixes, self._suffixes, self._keys
        found: dict[str, set[str]] = {}
        for word in vocabulary.words:
            if (
                len(word) < FUZZY_MIN - 1
                or (word[:_AFFIX] not in prefixes and word[-_AFFIX:] not in suffixes)
                or word in self._words  # a listed word as written needs no near reading
            ):
                continue
            variants = vocabulary.variants(word)
            if not keys.isdisjoint(variants):
                near = self._near(word, variants)
                if near:
                    found[word] = near
        return found

    def _near(self, token: str, variants: frozenset[str]) -> set[str]:
        """Listed words at edit distance exactly 1 from the token."""
        found = set(self._deletions.get(token, ()))  # a letter dropped
        for deleted in variants:
            if deleted in self._words:
                found.add(deleted)  # a letter added
            for word in self._deletions.get(deleted, ()):
                if len(word) == len(token) and _one_replaced(word, token):
                    found.add(word)  # a letter replaced
        found.discard(token)
        return found


def _variants(
    slots: tuple[frozenset[str], ...], accented: tuple[str, ...]
) -> tuple[tuple[tuple[frozenset[str], ...], int], ...]:
    """A term's slots as written, reversed (words and their order) and in ROT13;
    `accented` is the term's ROT13 taken before accents were dropped."""
    rotated = tuple(frozenset(map(rot13, s)) for s in slots)
    if len(accented) == len(slots):
        rotated = tuple(s | {a} for s, a in zip(rotated, accented, strict=True))
    return (
        (slots, PLAIN),
        (tuple(frozenset(f[::-1] for f in s) for s in reversed(slots)), REVERSED),
        (rotated, ROT13),
    )


def _glues(words: tuple[str, ...]) -> bool:
    """Whether a phrase is also read glued into one word: only when it starts and ends
    with a word of 4+ letters, since short words glue into other words (`the rapist`,
    `therapist`)."""
    return len(words) > 1 and len(words[0]) >= _GLUED_END and len(words[-1]) >= _GLUED_END


def _deletions(word: str) -> set[str]:
    return {word[:index] + word[index + 1 :] for index in range(len(word))}


def _one_replaced(first: str, second: str) -> bool:
    return sum(a != b for a, b in zip(first, second, strict=True)) == 1


def _forms(word: str, language: str) -> frozenset[str]:
    return frozenset({word, *inflections(word, language), *doubled(word)})


class TermMatcher:
    """A compiled list of words and phrases, matched against normalised prompts."""

    __slots__ = ("_by_first", "_count", "_fuzzy", "first_words")

    def __init__(
        self, by_first: dict[str, tuple[_Term, ...]], count: int, fuzzy: _Fuzzy | None
    ) -> None:
        self._by_first = by_first
        self._count = count
        self._fuzzy = fuzzy
        # Lets a caller rule a prompt out in one set operation before walking it.
        self.first_words = frozenset(by_first)

    @classmethod
    def compile(cls, terms: Iterable[str], *, language: str = "en", fuzzy: int = 0) -> TermMatcher:
        """Index every form of every term by its first word; empty terms and repeats of an
        earlier term are ignored. `language` picks the inflections, `fuzzy` the edit
        distance allowed to words of 6+ letters (0 or 1)."""
        return cls.compile_groups([TermGroup(terms, language, fuzzy)])

    @classmethod
    def compile_groups(cls, groups: Iterable[TermGroup]) -> TermMatcher:
        """One matcher of several groups of terms (lists in several languages, say)."""
        by_first: dict[str, list[_Term]] = {}
        seen: dict[tuple[str, ...], int] = {}  # distinct terms, in listing order
        compiled: set[tuple[tuple[str, ...], str]] = set()
        fuzzy_words: set[str] = set()
        for group in groups:
            for term in group.terms:
                words = term_tokens(term)
                # The same word in two languages takes the inflections of both.
                if not words or (words, group.language) in compiled:
                    continue
                compiled.add((words, group.language))
                order = seen.setdefault(words, len(seen) + 1)
                shapes = [words, ("".join(words),)] if _glues(words) else [words]
                for shape in shapes:
                    if group.fuzzy:
                        fuzzy_words.update(shape)
                    slots = tuple(_forms(word, group.language) for word in shape)
                    # ROT13 leaves accented letters as they are: read them so too.
                    accented = term_tokens(rot13(term)) if shape is words else ()
                    for variant, kind in _variants(slots, accented):
                        entry = _Term(variant, term, order, kind)
                        for form in variant[0]:
                            by_first.setdefault(form, []).append(entry)
        # Longest phrase first, then listing order; the sort is stable.
        index = {
            first: tuple(sorted(entries, key=lambda t: (-len(t.slots), t.order)))
            for first, entries in by_first.items()
        }
        return cls(index, len(seen), _Fuzzy(fuzzy_words) if fuzzy_words else None)

    def __len__(self) -> int:
        """How many distinct terms were compiled."""
        return self._count

    def kinds(self, text: NormalizedText, vocabulary: Vocabulary) -> int:
        """The readings (`PLAIN`, `REVERSED`, `ROT13` bits) in which a term matches;
        `vocabulary` holds every word the text can be read as (tokens and alternatives)."""
        near = _near(self._fuzzy, text, vocabulary) if self._fuzzy is not None else None
        if self.first_words.isdisjoint(vocabulary.words) and not near:
            return 0
        found = 0
        for term in self._walk(text, near):
            found |= term.kind
            if found == ALL_KINDS:
                break
        return found

    def first_match(self, text: NormalizedText) -> str | None:
        """The listed term matching earliest in the prompt (the longest phrase at that point)."""
        near = None
        if self._fuzzy is not None:
            words = frozenset(text.tokens).union(a.word for a in text.alternatives)
            near = _near(self._fuzzy, text, Vocabulary(words))
        for term in self._walk(text, near):
            return term.listed
        return None

    def _walk(self, text: NormalizedText, near: Extra | None) -> Iterable[_Term]:
        """The best term matching at each position, in prompt order."""
        tokens = text.tokens
        extra: Extra = {}
        for alternative in text.alternatives:
            extra.setdefault(alternative.start, []).append((alternative.end, alternative.word))
        for start, readings in (near or {}).items():
            extra.setdefault(start, []).extend(readings)
        by_first = self._by_first
        for position, token in enumerate(tokens):
            others = extra.get(position)
            if others is None and token not in by_first:
                continue  # most tokens start no term and have no other reading
            found: dict[int, _Term] = {}  # the best term of each kind at this position
            for end, word in ((position + 1, token), *(others or ())):
                for term in by_first.get(word, ()):
                    best = found.get(term.kind)
                    if best is not None and (len(term.slots), -term.order) <= (
                        len(best.slots),
                        -best.order,
                    ):
                        continue
                    if _follows(term.slots, 1, end, tokens, extra):
                        found[term.kind] = term
            if found:
                yield from sorted(found.values(), key=lambda t: (-len(t.slots), t.order))


def _near(fuzzy: _Fuzzy, text: NormalizedText, vocabulary: Vocabulary) -> Extra:
    """Readings of tokens as the listed words they are one edit away from."""
    words = fuzzy.near_words(vocabulary)
    near: Extra = {}
    if not words:
        return near
    readings = [(i, i + 1, token) for i, token in enumerate(text.tokens)]
    readings += [(a.start, a.end, a.word) for a in text.alternatives]
    for start, end, word in readings:
        for listed in words.get(word, ()):
            near.setdefault(start, []).append((end, listed))
    return near


def _follows(
    slots: tuple[frozenset[str], ...],
    index: int,
    position: int,
    tokens: tuple[str, ...],
    extra: Extra,
) -> bool:
    """Whether `slots[index:]` can be read from token `position` on, via tokens or alternatives."""
    if index == len(slots):
        return True
    wanted = slots[index]
    if (
        position < len(tokens)
        and tokens[position] in wanted
        and _follows(slots, index + 1, position + 1, tokens, extra)
    ):
        return True
    return any(
        word in wanted and _follows(slots, index + 1, end, tokens, extra)
        for end, word in extra.get(position, ())
    )
