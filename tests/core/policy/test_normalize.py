"""Prompt normalisation and term matching: each bypass it stops, each false positive it avoids."""

from __future__ import annotations

import re

import pytest

from gateway.core.policy.normalize import (
    Alternative,
    NormalizedText,
    normalize,
    term_tokens,
)
from gateway.core.policy.terms import TermMatcher

LISTED = ("nude", "naked", "kill", "ass", "rape", "rapist", "blood", "sex", "firearm", "porn")
MATCHER = TermMatcher.compile(LISTED)


def first(prompt: str, terms: tuple[str, ...] | None = None) -> str | None:
    matcher = MATCHER if terms is None else TermMatcher.compile(terms)
    return matcher.first_match(normalize(prompt))


# --- The canonical text and tokens ---------------------------------------------------------------


def test_text_and_tokens() -> None:
    """Text is case-folded with whitespace collapsed; tokens are its words in order."""
    result = normalize("  A Fox,\tjumping\n over 12  logs! ")
    assert result == NormalizedText(
        text="a fox, jumping over 12 logs!", tokens=("a", "fox", "jumping", "over", "12", "logs")
    )


def test_regex_runs_on_text() -> None:
    """Punctuation and word boundaries survive, so an admin's regex works on `text`."""
    assert re.search(r"\b(rifle|pistol)s?\b", normalize("Two RIFLES, one pistol.").text)


def test_regex_views_fold_leetspeak_and_spelled_words() -> None:
    """`regex_views` adds a rewritten text where `r1fles` and `r.i.f.l.e` read as words."""
    views = normalize("r1fles and a r.i.f.l.e").regex_views()
    assert views == ("r1fles and a r.i.f.l.e", "rifles and a rifle")
    assert all(re.search(r"\brifles?\b", view) for view in views[1:])


def test_regex_views_without_rewrites() -> None:
    """A prompt with nothing to rewrite has one regex view, its text."""
    assert normalize("A quiet lake").regex_views() == ("a quiet lake",)


# --- Bypasses stopped ----------------------------------------------------------------------------


def test_mixed_case() -> None:
    """Upper and mixed case match a lower-case term."""
    assert first("a NuDe figure") == "nude"


def test_fullwidth_letters() -> None:
    """Fullwidth letters fold to ASCII."""
    fullwidth = "".join(chr(ord(c) - ord("a") + 0xFF41) for c in "nude")
    assert first(f"a {fullwidth} figure") == "nude"


@pytest.mark.parametrize(
    "invisible",
    [
        "\N{ZERO WIDTH SPACE}",
        "\N{ZERO WIDTH NON-JOINER}",
        "\N{ZERO WIDTH JOINER}",
        "\N{WORD JOINER}",
        "\N{ZERO WIDTH NO-BREAK SPACE}",
    ],
)
def test_zero_width_characters(invisible: str) -> None:
    """A zero-width character inside a word does not split it."""
    assert first(f"a nu{invisible}de figure") == "nude"


def test_soft_hyphen() -> None:
    """A soft hyphen inside a word does not split it."""
    assert first("a nu\N{SOFT HYPHEN}de figure") == "nude"


def test_variation_selector() -> None:
    """A variation selector after a letter is dropped."""
    assert first("a nu\N{VARIATION SELECTOR-16}de figure") == "nude"


def test_control_character() -> None:
    """An ASCII control character inside a word is dropped."""
    assert first("a nu\x00de figure") == "nude"


@pytest.mark.parametrize(
    "accented",
    [
        "n\N{LATIN SMALL LETTER U WITH DIAERESIS}de",
        "nu\N{COMBINING DIAERESIS}de",
        "n\u0301u\u0300de",
    ],
)
def test_combining_accents(accented: str) -> None:
    """Accents, precomposed or combining, do not hide a word."""
    assert first(f"a {accented} figure") == "nude"


def test_foreign_combining_mark_on_latin_letter() -> None:
    """A combining mark of another script placed on a Latin letter is dropped too."""
    assert first("a nu\N{DEVANAGARI STRESS SIGN UDATTA}de figure") == "nude"


def test_cyrillic_lookalike_in_latin_word() -> None:
    """A Cyrillic letter that looks Latin, inside a Latin word, is read as Latin."""
    assert first("a nud\N{CYRILLIC SMALL LETTER IE} figure") == "nude"


def test_word_entirely_of_cyrillic_lookalikes() -> None:
    """A word made only of Cyrillic lookalikes is read as the Latin word it looks like."""
    word = "\N{CYRILLIC SMALL LETTER DZE}\N{CYRILLIC SMALL LETTER IE}\N{CYRILLIC SMALL LETTER HA}"
    assert first(f"explicit {word} scene") == "sex"


def test_greek_capital_lookalikes() -> None:
    """Greek capitals that look Latin are read as Latin, case included (capital eta is H)."""
    word = "\N{GREEK CAPITAL LETTER NU}UD\N{GREEK CAPITAL LETTER EPSILON}"
    assert first(f"A {word} FIGURE") == "nude"
    assert normalize("\N{GREEK CAPITAL LETTER ETA}OT").text == "hot"


def test_greek_small_lookalikes() -> None:
    """Greek small letters that look Latin are read as Latin."""
    assert first("\N{GREEK SMALL LETTER KAPPA}ill him") == "kill"
    assert first("\N{GREEK SMALL LETTER RHO}\N{GREEK SMALL LETTER OMICRON}rn") == "porn"


def test_small_capitals() -> None:
    """Latin small capitals, which Unicode does not decompose, read as letters."""
    word = "\N{LATIN LETTER SMALL CAPITAL N}\N{LATIN LETTER SMALL CAPITAL U}dE"
    assert first(f"a {word} figure") == "nude"


def test_ligature() -> None:
    """A ligature such as fi unfolds into its letters."""
    assert first("a \N{LATIN SMALL LIGATURE FI}rearm on the table") == "firearm"


def test_superscript_and_circled_letters() -> None:
    """Superscript and circled letters read as plain letters."""
    superscript = "\N{SUPERSCRIPT LATIN SMALL LETTER N}\N{MODIFIER LETTER SMALL U}"
    superscript += "\N{MODIFIER LETTER SMALL D}\N{MODIFIER LETTER SMALL E}"
    circled = "".join(chr(0x24D0 + ord(c) - ord("a")) for c in "nude")
    assert first(f"a {superscript} figure") == "nude"
    assert first(f"a {circled} figure") == "nude"


def test_regional_indicator_letters() -> None:
    """Regional indicator symbols (flag letters) read as letters."""
    flags = "".join(chr(0x1F1E6 + ord(c) - ord("a")) for c in "nude")
    assert first(f"a {flags} figure") == "nude"


@pytest.mark.parametrize(
    ("prompt", "term"),
    [("k1ll him", "kill"), ("a nud3 figure", "nude"), ("p0rn", "porn"), ("a55 shot", "ass")],
)
def test_leet_digits_inside_words(prompt: str, term: str) -> None:
    """Digits standing for letters inside a word are read as those letters."""
    assert first(prompt) == term


def test_leet_one_as_l() -> None:
    """A 1 may stand for an l as well as an i."""
    assert first("covered in b100d") == "blood"


@pytest.mark.parametrize(("prompt", "term"), [("n@ked", "naked"), ("$ex scene", "sex")])
def test_leet_symbols(prompt: str, term: str) -> None:
    """@ and $ inside or in front of a word are read as a and s."""
    assert first(prompt) == term


@pytest.mark.parametrize("separator", [".", " ", "-", "_", "*", " . ", "/"])
def test_spelled_out_letters(separator: str) -> None:
    """Single letters separated by spaces or punctuation are read as the word they spell."""
    assert first(f"a {separator.join('nude')} figure") == "nude"


def test_spelled_out_letters_with_mixed_separators() -> None:
    """The separators between spelled-out letters need not be the same."""
    assert first("a n.u-d_e figure") == "nude"


def test_spelled_out_word_between_single_letters() -> None:
    """Single letters next to a spelled-out word, with other separators, do not shield it."""
    assert first("x n.u.d.e y") == "nude"
    assert first("q n*u*d*e") == "nude"


def test_spelled_out_word_after_article() -> None:
    """A lone `a` just before a spelled-out word, with the same spacing, does not shield it."""
    assert first("draw a n u d e woman") == "nude"
    assert first("a s s") == "ass"


def test_spelled_out_leetspeak() -> None:
    """Spelled-out letters with a leet digit are read as the word."""
    assert first("a n.u.d.3 figure") == "nude"


def test_stretched_letters() -> None:
    """A letter repeated three times or more reads as once or twice."""
    assert first("a nuuuuude figure") == "nude"
    assert first("b l o o o o d everywhere") == "blood"


def test_listed_term_is_normalised_too() -> None:
    """A term listed with accents, case or fullwidth letters is normalised like the prompt."""
    assert first("a nude figure", ("N\N{LATIN SMALL LETTER U WITH DIAERESIS}DE",)) == (
        "N\N{LATIN SMALL LETTER U WITH DIAERESIS}DE"
    )


# --- False positives avoided ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "prompt",
    ["a class of students", "the assassin's creed", "tall grass", "a bass guitar", "a brass band"],
)
def test_listed_word_inside_longer_words(prompt: str) -> None:
    """A listed word inside a longer innocent word does not match (`ass` in `class`)."""
    assert first(prompt) is None


@pytest.mark.parametrize("prompt", ["a bunch of grapes", "a grape", "velvet drapery"])
def test_rape_inside_innocent_words(prompt: str) -> None:
    """A listed `rape` does not match `grape` or `drapery`."""
    assert first(prompt) is None


def test_phrase_not_matched_across_a_longer_word() -> None:
    """A listed phrase does not match its letters run together into another word."""
    assert first("a therapist at her desk", ("the rapist",)) is None
    assert first("a therapist at her desk") is None


def test_innocent_numbers_stay_numbers() -> None:
    """Plain numbers get no leetspeak reading: `4 seconds` stays four seconds."""
    result = normalize("4 seconds, then 12 seconds at 30 frames and 1 5 7 3")
    assert result.alternatives == ()
    assert first("4 seconds of 5 7 3", ("a", "s", "ste", "aste")) is None


@pytest.mark.parametrize("prompt", ["4k footage", "1080p", "60fps", "4x zoom", "the 1st take"])
def test_numbers_with_units_stay_quantities(prompt: str) -> None:
    """A number with a unit is a quantity, not leetspeak: `4k` is not `ak`."""
    assert normalize(prompt).alternatives == ()
    assert first(prompt, ("ak", "iop", "ofps", "ax", "ist", "lst")) is None


def test_repeated_letters_not_collapsed() -> None:
    """Double letters are normal spelling: `book` and `bookkeeper` are kept as they are."""
    result = normalize("a book for the bookkeeper")
    assert result.tokens == ("a", "book", "for", "the", "bookkeeper")
    assert result.alternatives == ()
    assert first("a book for the bookkeeper", ("bok", "bokeper")) is None


def test_single_letters_in_prose_do_not_form_words() -> None:
    """Lone letters between longer words (`a cat and a dog`) never join into a word."""
    assert normalize("a cat and a dog, i think").alternatives == ()
    assert first("a cat and a dog", ("aca", "aa", "aad", "acad")) is None


def test_two_single_letters_are_not_a_spelled_word() -> None:
    """Fewer than three single letters are not read as a spelled-out word."""
    assert normalize("plan b u turn").alternatives == ()
    assert first("plan b u turn", ("bu",)) is None


def test_long_separators_do_not_join_letters() -> None:
    """Letters more than three characters apart are not read as a spelled-out word."""
    assert first("options a -- b -- c", ("abc",)) is None


def test_russian_word_is_not_latinised() -> None:
    """A Cyrillic word with letters of its own keeps its Cyrillic spelling."""
    pine = (
        "\N{CYRILLIC SMALL LETTER ES}\N{CYRILLIC SMALL LETTER O}\N{CYRILLIC SMALL LETTER ES}"
        "\N{CYRILLIC SMALL LETTER EN}\N{CYRILLIC SMALL LETTER A}"
    )
    assert normalize(f"a {pine}").text == f"a {pine}"


def test_japanese_voicing_marks_are_kept() -> None:
    """Marks that spell another script (Japanese voicing) are kept, so `do` stays `do`."""
    do = "\N{KATAKANA LETTER DO}"
    assert normalize(do).text == do
    assert normalize(do) != normalize("\N{KATAKANA LETTER TO}")


def test_cjk_terms_match_inside_unspaced_text() -> None:
    """Chinese and Japanese have no spaces, so each character is a token and terms match within."""
    nude = "\N{KATAKANA LETTER NU}\N{KATAKANA-HIRAGANA PROLONGED SOUND MARK}\N{KATAKANA LETTER DO}"
    model = "\N{KATAKANA LETTER MO}\N{KATAKANA LETTER DE}\N{KATAKANA LETTER RU}"
    assert first(f"{nude}{model}", (nude,)) == nude
    assert first(f"{model}", (nude,)) is None


# --- Phrases and the choice of match -------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("a video of a real person talking", "real person"),
        ("a REAL-person", "real person"),
        ("a real personal story", None),
        ("a person, real or not", None),
        ("the head of state waves", "head of state"),
        ("the head of the state", None),
    ],
)
def test_phrases(prompt: str, expected: str | None) -> None:
    """A phrase matches when its words appear consecutively, and only then."""
    assert first(prompt, ("real person", "head of state")) == expected


def test_phrase_through_respelled_word() -> None:
    """A phrase matches when one of its words is disguised."""
    assert first("a r3al p.e.r.s.o.n talking", ("real person",)) == "real person"


def test_listed_spelling_is_returned() -> None:
    """The term comes back exactly as the admin listed it."""
    assert first("a real person", ("Real  Person!",)) == "Real  Person!"


def test_earliest_match_wins() -> None:
    """The match starting earliest in the prompt is returned, whatever the list order."""
    terms = ("head of state", "nude")
    assert first("a nude head of state", terms) == "nude"
    assert first("the head of state, nude", terms) == "head of state"


def test_longest_phrase_wins_at_a_position() -> None:
    """At one position, the longest listed phrase is preferred."""
    assert first("the head of state waves", ("head", "head of state")) == "head of state"
    assert first("the head of the state", ("head", "head of state")) == "head"


def test_first_listed_wins_among_equals() -> None:
    """Terms normalising to the same words keep the first listed spelling."""
    assert first("a nude figure", ("Nude", "NUDE", "nude")) == "Nude"
    assert len(TermMatcher.compile(["Nude", "NUDE", "nude"])) == 1


def test_empty_terms_are_ignored() -> None:
    """Terms that normalise to nothing are left out of the matcher."""
    matcher = TermMatcher.compile(["", "   ", "...", "\N{ZERO WIDTH SPACE}", "-"])
    assert len(matcher) == 0
    assert matcher.first_match(normalize("anything at all")) is None
    assert term_tokens(" \N{SOFT HYPHEN} ") == ()


def test_matching_is_deterministic() -> None:
    """The same prompt and list always give the same answer."""
    prompt = normalize("n.u.d.e and k1ll and a real person")
    matcher = TermMatcher.compile(["real person", "kill", "nude"])
    assert {matcher.first_match(prompt) for _ in range(20)} == {"nude"}


def test_alternatives_point_at_the_tokens_they_read() -> None:
    """A spelled-out word's alternative spans the letter tokens it joins."""
    result = normalize("x n.u.d.e y")
    assert result.tokens == ("x", "n", "u", "d", "e", "y")
    assert Alternative(1, 5, "nude") in result.alternatives


def test_large_list_micro_check() -> None:
    """Ten thousand terms compile, and a 60-word prompt finds the one it contains."""
    terms = [f"w{i:05d}x" for i in range(9_000)] + [f"p{i:04d} q{i:04d}" for i in range(1_000)]
    terms[4_321] = "glowing lanterns"
    matcher = TermMatcher.compile(terms)
    assert len(matcher) == 10_000
    words = ["a", "slow", "cinematic", "shot", "of", "a", "fox", "crossing", "a", "snowy"]
    words += ["field", "at", "dawn"]
    prompt = " ".join([*(words * 5)[:57], "two", "glowing", "lanterns"])
    assert len(prompt.split()) == 60
    assert matcher.first_match(normalize(prompt)) == "glowing lanterns"
    assert matcher.first_match(normalize(" ".join(words * 5))) is None
