"""The forms a listed word takes in running text: plurals and simple inflections per
language, and the word with one letter doubled.

Computed once per word when a policy is compiled, so matching a prompt stays a set
lookup per token. Words arrive normalised (case folded, accents dropped: `niño` is
`nino`), and so do the forms. The rules are deliberately simple suffix rules, the
regular plurals and the gender and adjective endings of each language; irregular
forms (`children`) are listed as terms of their own.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["LANGUAGES", "doubled", "inflections", "language_of"]

_VOWELS = frozenset("aeiouy")


def _english(word: str) -> set[str]:
    forms = {word + "s"}
    if word.endswith(("s", "x", "z", "ch", "sh")):
        forms.add(word + "es")
    if word.endswith("y") and len(word) > 2 and word[-2] not in _VOWELS:
        forms.add(word[:-1] + "ies")
    if word.endswith("e"):
        forms.update((word + "d", word[:-1] + "ing"))
    else:
        forms.update((word + "ed", word + "ing"))
    return forms


def _french(word: str) -> set[str]:
    feminine = {word if word.endswith("e") else word + "e"}
    if word.endswith(("el", "en", "on", "et")):
        feminine.add(word + word[-1] + "e")
    if word.endswith("eux"):
        feminine.add(word[:-1] + "se")
    if word.endswith("if"):
        feminine.add(word[:-1] + "ve")
    forms = {*feminine, *(f + "s" for f in feminine), word + "s"}
    if word.endswith(("eau", "au", "eu")):
        forms.add(word + "x")
    if word.endswith("al"):
        forms.add(word[:-1] + "ux")
    return forms


def _spanish(word: str) -> set[str]:
    forms: set[str] = set()
    if word.endswith("o"):
        forms.update((word[:-1] + "a", word[:-1] + "as"))
    if word[-1] in _VOWELS:
        forms.add(word + "s")
    elif word.endswith("z"):
        forms.add(word[:-1] + "ces")
    else:
        forms.update((word + "es", word + "a", word + "as"))
    return forms


def _italian(word: str) -> set[str]:
    forms: set[str] = set()
    if word.endswith(("co", "go")):
        forms.update((word[:-1] + "hi", word[:-1] + "i"))
    if word.endswith(("ca", "ga")):
        forms.add(word[:-1] + "he")
    if word.endswith("o"):
        forms.update((word[:-1] + "i", word[:-1] + "a", word[:-1] + "e"))
    elif word.endswith("a"):
        forms.add(word[:-1] + "e")
    elif word.endswith("e"):
        forms.add(word[:-1] + "i")
    return forms


def _german(word: str) -> set[str]:
    forms = {word + ending for ending in ("e", "en", "er", "em", "es", "s", "n", "ern")}
    if word.endswith("in"):
        forms.add(word + "nen")
    return forms


def _portuguese(word: str) -> set[str]:
    forms: set[str] = set()
    if word.endswith("ao"):
        forms.update((word[:-2] + "oes", word[:-2] + "aes", word + "s"))
    elif word.endswith("al"):
        forms.add(word[:-1] + "is")
    elif word.endswith("m"):
        forms.add(word[:-1] + "ns")
    elif word.endswith(("r", "z", "s")):
        forms.add(word + "es")
    elif word[-1] in _VOWELS:
        forms.add(word + "s")
    if word.endswith("o"):
        forms.update((word[:-1] + "a", word[:-1] + "as"))
    return forms


_RULES: dict[str, Callable[[str], set[str]]] = {
    "en": _english,
    "fr": _french,
    "es": _spanish,
    "it": _italian,
    "de": _german,
    "pt": _portuguese,
}
LANGUAGES = tuple(_RULES)
# Shorter words are function words of phrases (`a`, `o`): left as written.
_MIN_INFLECTED = 2
_MIN_DOUBLED = 4


def language_of(file: str) -> str:
    """The language a word list file is in, from its name: `minors.fr.txt` is French;
    a name without a known language tag is English."""
    parts = file.replace("\\", "/").rsplit("/", 1)[-1].lower().split(".")
    return parts[-2] if len(parts) >= 3 and parts[-2] in _RULES else "en"


def inflections(word: str, language: str) -> frozenset[str]:
    """The word's regular plural and inflected forms in `language` (itself not included)."""
    if len(word) < _MIN_INFLECTED or not word.isalpha():
        return frozenset()
    return frozenset(_RULES.get(language, _english)(word) - {word})


def doubled(word: str) -> frozenset[str]:
    """The word with one of its letters written twice (`nudde`), a last vowel excepted:
    a doubled last vowel makes other words too often (`gore`, `Gorée`)."""
    if len(word) < _MIN_DOUBLED or not word.isalpha():
        return frozenset()
    return frozenset(
        word[: index + 1] + word[index:]
        for index in range(len(word))
        if not (index == len(word) - 1 and word[index] in _VOWELS)
    )
