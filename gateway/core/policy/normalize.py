"""Prompt normalisation, so trivial obfuscation does not slip past usage rules.

`normalize` turns a prompt into one canonical string (for regex rules) and its word tokens (for
term lists):

1. Compatibility decomposition (NFKD, the decomposed side of NFKC) folds fullwidth letters,
   ligatures, superscripts and circled letters; accents, format characters (zero-width
   space/joiner/non-joiner, word joiner, BOM, soft hyphen), variation selectors, control
   characters and invisible fillers are then dropped, so `nüde` and `nu<ZWSP>de` read `nude`.
   Combining marks are dropped after Latin, Greek and Cyrillic letters (whatever the mark) and
   everywhere for the generic diacritic blocks; other scripts keep the marks that spell them
   (Japanese voicing marks, Indic vowel signs), and the result is recomposed (NFC).
2. A word that could be read as Latin (only Latin letters and the lookalikes of `_LOOKALIKES`)
   is read as Latin: `nud` followed by a Cyrillic `e` becomes `nude`, while a Russian word
   with letters of its own (Cyrillic `sosna`, "pine") is left alone.
3. Case folding, then whitespace collapsed to single spaces. Punctuation and digits stay, so
   `text` is what regexes such as `\\brifles?\\b` run on.

Tokens are runs of letters and digits; each Chinese or Japanese character is a token of its own,
since those scripts do not put spaces between words. On top of the real tokens, `normalize`
records *alternatives*, other readings of one or more consecutive tokens as a single word:

- leetspeak inside words (`k1ll`, `n@ked`, `a55`), never for plain numbers (`12`) nor a number
  with a unit (`4k`, `1080p`, `60fps`), see `_leet_forms`;
- letters stretched three times or more (`nuuuude` reads `nude` and `nuude`; `book` is kept);
- spelled-out words: a run of at least three single letters or digits, each separated from the
  next by one to three characters of spaces or punctuation (`n.u.d.e`, `n u d e`, `n-u_d*e`),
  joined (`nude`). Each stretch with one same separator is read too, so a neighbouring letter
  does not shield the word (`x n.u.d.e` reads `nude` as well as `xnude`). A leading or
  trailing `a` or `i` may be an English word of its own, so a run is also read without it
  (`draw a n u d e` reads `nude`). Letters inside ordinary prose (`a cat and a dog`) never
  form a run, because the longer words in between break it.

Term lists are matched against these tokens and alternatives by `terms.TermMatcher`.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from dataclasses import dataclass

__all__ = ["Alternative", "NormalizedText", "normalize", "term_tokens"]


@dataclass(frozen=True, slots=True)
class Alternative:
    """Another reading of prompt tokens `start` to `end` (exclusive) as the single word `word`."""

    start: int
    end: int
    word: str


@dataclass(frozen=True, slots=True)
class NormalizedText:
    """A prompt after normalisation: `text` for regexes, `tokens` for term lists.

    `alternatives` are the extra readings term matching also tries (leetspeak, stretched letters,
    spelled-out words); `folded_text` is `text` with leetspeak and spelled-out words rewritten,
    or None when there was nothing to rewrite.
    """

    text: str
    tokens: tuple[str, ...]
    alternatives: tuple[Alternative, ...] = ()
    folded_text: str | None = None

    def regex_views(self) -> tuple[str, ...]:
        """The strings a regex rule should search: `text`, then `folded_text` if it differs."""
        if self.folded_text is None or self.folded_text == self.text:
            return (self.text,)
        return (self.text, self.folded_text)


# --- Characters -----------------------------------------------------------------------------

# Chinese ideographs and Japanese kana: scripts without spaces between words.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")
_CJK_CHAR = re.compile(rf"[{_CJK}]")

# Invisible characters that are letters or symbols (so not caught by category): Hangul fillers.
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0")
# Blank-looking symbols read as a space.
_BLANK = frozenset("\u2800")  # braille pattern blank
# Combining marks (accents, see _keeps_mark), and format characters (zero-width space, joiner and
# non-joiner, word joiner, BOM, soft hyphen, tag characters) are dropped.
_MARKS = frozenset({"Mn", "Me"})
# ASCII controls other than whitespace are dropped, whitespace is kept (collapsed later).
_ASCII_CONTROLS = {c: None for c in (*range(0x20), 0x7F) if not chr(c).isspace()}


def _letter_symbols() -> dict[str, str]:
    """Emoji-style letters NFKD leaves alone: regional indicators and negative circled/squared."""
    table: dict[str, str] = {}
    for first in (0x1F1E6, 0x1F150, 0x1F170):  # regional indicator, negative circled, squared
        for offset in range(26):
            table[chr(first + offset)] = chr(ord("a") + offset)
    return table


_LETTER_SYMBOLS = _letter_symbols()

# Cross-script lookalikes read as Latin, by Unicode name so the table is legible (and linters do
# not flag confusable literals). Looked up before case folding, because case matters: Greek
# capital eta looks like H, small eta like n.
_LOOKALIKE_NAMES: dict[str, tuple[str, ...]] = {
    "a": (
        "CYRILLIC CAPITAL LETTER A",
        "CYRILLIC SMALL LETTER A",
        "GREEK CAPITAL LETTER ALPHA",
        "GREEK SMALL LETTER ALPHA",
        "LATIN SMALL LETTER ALPHA",
    ),
    "b": ("CYRILLIC CAPITAL LETTER VE", "GREEK CAPITAL LETTER BETA"),
    "c": ("CYRILLIC CAPITAL LETTER ES", "CYRILLIC SMALL LETTER ES"),
    "d": (
        "CYRILLIC CAPITAL LETTER KOMI DE",
        "CYRILLIC SMALL LETTER KOMI DE",
        "LATIN CAPITAL LETTER D WITH STROKE",
        "LATIN SMALL LETTER D WITH STROKE",
    ),
    "e": (
        "CYRILLIC CAPITAL LETTER IE",
        "CYRILLIC SMALL LETTER IE",
        "GREEK CAPITAL LETTER EPSILON",
        "GREEK SMALL LETTER EPSILON",
    ),
    "g": ("LATIN SMALL LETTER SCRIPT G",),
    "h": (
        "CYRILLIC CAPITAL LETTER EN",
        "CYRILLIC CAPITAL LETTER SHHA",
        "CYRILLIC SMALL LETTER SHHA",
        "GREEK CAPITAL LETTER ETA",
        "LATIN CAPITAL LETTER H WITH STROKE",
        "LATIN SMALL LETTER H WITH STROKE",
    ),
    "i": (
        "CYRILLIC CAPITAL LETTER BYELORUSSIAN-UKRAINIAN I",
        "CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I",
        "GREEK CAPITAL LETTER IOTA",
        "GREEK SMALL LETTER IOTA",
        "LATIN SMALL LETTER DOTLESS I",
    ),
    "j": (
        "CYRILLIC CAPITAL LETTER JE",
        "CYRILLIC SMALL LETTER JE",
        "LATIN SMALL LETTER DOTLESS J",
    ),
    "k": (
        "CYRILLIC CAPITAL LETTER KA",
        "CYRILLIC SMALL LETTER KA",
        "GREEK CAPITAL LETTER KAPPA",
        "GREEK SMALL LETTER KAPPA",
    ),
    "l": (
        "CYRILLIC LETTER PALOCHKA",
        "CYRILLIC SMALL LETTER PALOCHKA",
        "LATIN CAPITAL LETTER L WITH STROKE",
        "LATIN SMALL LETTER L WITH STROKE",
    ),
    "m": ("CYRILLIC CAPITAL LETTER EM", "GREEK CAPITAL LETTER MU"),
    "n": ("GREEK CAPITAL LETTER NU", "GREEK SMALL LETTER ETA"),
    "o": (
        "CYRILLIC CAPITAL LETTER O",
        "CYRILLIC SMALL LETTER O",
        "GREEK CAPITAL LETTER OMICRON",
        "GREEK SMALL LETTER OMICRON",
        "LATIN CAPITAL LETTER O WITH STROKE",
        "LATIN SMALL LETTER O WITH STROKE",
    ),
    "p": (
        "CYRILLIC CAPITAL LETTER ER",
        "CYRILLIC SMALL LETTER ER",
        "GREEK CAPITAL LETTER RHO",
        "GREEK SMALL LETTER RHO",
    ),
    "q": ("CYRILLIC CAPITAL LETTER QA", "CYRILLIC SMALL LETTER QA"),
    "s": ("CYRILLIC CAPITAL LETTER DZE", "CYRILLIC SMALL LETTER DZE"),
    "t": (
        "CYRILLIC CAPITAL LETTER TE",
        "GREEK CAPITAL LETTER TAU",
        "GREEK SMALL LETTER TAU",
        "LATIN CAPITAL LETTER T WITH STROKE",
        "LATIN SMALL LETTER T WITH STROKE",
    ),
    "u": ("GREEK SMALL LETTER UPSILON",),
    "v": ("GREEK SMALL LETTER NU",),
    "w": ("CYRILLIC CAPITAL LETTER WE", "CYRILLIC SMALL LETTER WE"),
    "x": (
        "CYRILLIC CAPITAL LETTER HA",
        "CYRILLIC SMALL LETTER HA",
        "GREEK CAPITAL LETTER CHI",
        "GREEK SMALL LETTER CHI",
    ),
    "y": (
        "CYRILLIC CAPITAL LETTER U",
        "CYRILLIC SMALL LETTER U",
        "GREEK CAPITAL LETTER UPSILON",
        "GREEK SMALL LETTER GAMMA",
    ),
    "z": ("GREEK CAPITAL LETTER ZETA",),
}


def _small_capitals() -> dict[str, str]:
    """Latin small capitals (as in `NUDE` typed in small caps), which NFKD leaves alone."""
    table: dict[str, str] = {}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        try:
            table[unicodedata.lookup(f"LATIN LETTER SMALL CAPITAL {letter.upper()}")] = letter
        except KeyError:  # not every letter has one
            continue
    return table


_LOOKALIKES = {
    unicodedata.lookup(name): latin for latin, names in _LOOKALIKE_NAMES.items() for name in names
} | _small_capitals()
_LOOKALIKE_TABLE = str.maketrans(_LOOKALIKES)
# Letter runs, for deciding whether a word could be read as Latin (CJK characters excluded: they
# are words of their own and must not shield a neighbouring Latin word).
_LETTER_RUN = re.compile(rf"[^\W\d_{_CJK}]+")

# --- Leetspeak, stretched letters, spelled-out words ------------------------------------------

# Digits and symbols standing for letters, read inside words only. "1" may stand for "i" or "l",
# so words holding a 1 get both readings.
_LEET = "0134579@$"
_LEET_AS_I = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)
_LEET_AS_L = str.maketrans(
    {"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)
# A word as leetspeak sees it: letters and digits, with @ and $ allowed anywhere in it.
_LEET_CHUNK = re.compile(rf"[@$]*[^\W_{_CJK}]+(?:[@$]+[^\W_{_CJK}]+)*[@$]*")
# A number followed by one of these is a quantity, not leetspeak: "4k" is not "ak".
_NUMBER_WITH_UNIT = re.compile(r"[0-9]+([a-z]+)")
_UNITS = frozenset(
    {
        *("k", "p", "i", "d", "s", "x", "g", "m", "h", "st", "nd", "rd", "th", "am", "pm"),
        *("fps", "px", "ms", "hz", "khz", "mhz", "ghz", "bit", "kb", "mb", "gb", "tb", "mp"),
        *("mm", "cm", "km", "kg", "min", "mins", "sec", "secs", "hr", "hrs", "yr", "yrs"),
    }
)
# A letter repeated three or more times: English words repeat a letter at most twice.
_STRETCHED = re.compile(r"([^\W\d_])\1{2,}")
# Most words have neither leet characters nor stretched letters: one search skips them.
_MAY_RESPELL = re.compile(r"[0134579@$]|([^\W\d_])\1{2,}")
# Spelled-out words: at least this many single characters, separated by at most _MAX_GAP
# characters of spaces or punctuation.
_MIN_SPELLED = 3
_MAX_GAP = 3
# Single-letter English words that may sit at either end of a spelled-out run.
_LONE_WORDS = frozenset({"a", "i"})


# --- Normalisation ------------------------------------------------------------------------------


def normalize(text: str) -> NormalizedText:
    """Normalise a prompt: canonical `text`, its `tokens`, and their alternative readings."""
    clean = _clean(text)
    matches = list(_TOKEN.finditer(clean))
    tokens = tuple(m.group() for m in matches)
    starts = [m.start() for m in matches]
    alternatives: dict[Alternative, None] = {}  # ordered set
    rewrites: list[tuple[int, int, str]] = []  # character spans of `clean` for `folded_text`

    # Most prompts hold no leet character and no stretched letter: one search skips it all.
    chunks = _LEET_CHUNK.finditer(clean) if _MAY_RESPELL.search(clean) else ()
    for chunk in chunks:
        if _MAY_RESPELL.search(chunk.group()) is None:
            continue
        leet, others = _respellings(chunk.group())
        if not leet and not others:
            continue
        first = bisect_left(starts, chunk.start())
        last = bisect_left(starts, chunk.end())
        for word in (*leet, *others):
            if last - first > 1 or word != tokens[first]:
                alternatives[Alternative(first, last, word)] = None
        if leet:
            rewrites.append((chunk.start(), chunk.end(), leet[0]))

    # A spelled-out word needs at least three one-character tokens; most prompts have fewer.
    single = sum(1 for token in tokens if len(token) == 1)
    spelled = (
        _spelled_runs(clean, matches, 0, len(matches), same_separator=False)
        if single >= _MIN_SPELLED
        else []
    )
    for first, last in spelled:
        uniform = _spelled_runs(clean, matches, first, last, same_separator=True)
        for run in dict.fromkeys([(first, last), *uniform]):
            for start, end in _run_readings(tokens, *run):
                word = "".join(tokens[start:end])
                leet, others = _respellings(word)
                for spelling in (word, *leet, *others):
                    alternatives[Alternative(start, end, spelling)] = None
        for start, end in uniform or [(first, last)]:
            joined = "".join(tokens[start:end])
            readable = _leet_forms(joined) or [joined]
            rewrites.append((matches[start].start(), matches[end - 1].end(), readable[0]))

    return NormalizedText(
        text=clean,
        tokens=tokens,
        alternatives=tuple(alternatives),
        folded_text=_rewrite(clean, rewrites) if rewrites else None,
    )


def term_tokens(term: str) -> tuple[str, ...]:
    """A listed term's tokens after normalisation; empty if the term normalises to nothing."""
    return tuple(_TOKEN.findall(_clean(term)))


def _clean(text: str) -> str:
    """Fold compatibility forms, drop invisibles and marks, read lookalikes as Latin, casefold."""
    if text.isascii():
        folded = text.translate(_ASCII_CONTROLS).lower()
    else:
        folded = _strip(unicodedata.normalize("NFKD", text))
        if not _LOOKALIKES.keys().isdisjoint(folded):
            folded = _LETTER_RUN.sub(_read_as_latin, folded)
        # Case folding can bring marks back (dotted capital I), hence the second pass.
        folded = _strip(unicodedata.normalize("NFKD", folded.casefold()))
        folded = unicodedata.normalize("NFC", folded)
    return " ".join(folded.split())


def _strip(text: str) -> str:
    """Drop accents, format and control characters and invisible fillers."""
    kept: list[str] = []
    base = ""  # the last character kept that is not a combining mark
    for original in text:
        if original.isascii():
            if original.isprintable() or original.isspace():
                kept.append(original)
                base = original
            continue
        if original in _INVISIBLE:
            continue
        char = _LETTER_SYMBOLS.get(original, " " if original in _BLANK else original)
        category = unicodedata.category(char)
        if category in _MARKS:
            if _keeps_mark(char, base):
                kept.append(char)
            continue
        if category == "Cf" or (category == "Cc" and not char.isspace()):
            continue
        kept.append(char)
        base = char
    return "".join(kept)


def _keeps_mark(mark: str, base: str) -> bool:
    """A mark is kept only on a letter of a script other than Latin, Greek or Cyrillic, and only
    if it is not a generic diacritic or a variation selector (which hide words anywhere)."""
    if not base.isalpha() or _is_latin(base) or "\u0370" <= base <= "\u052f":
        return False
    return not (
        "\u0300" <= mark <= "\u036f"  # Combining Diacritical Marks
        or "\u1ab0" <= mark <= "\u1aff"  # Combining Diacritical Marks Extended
        or "\u1dc0" <= mark <= "\u1dff"  # Combining Diacritical Marks Supplement
        or "\u20d0" <= mark <= "\u20ff"  # Combining Diacritical Marks for Symbols
        or "\ufe20" <= mark <= "\ufe2f"  # Combining Half Marks
        or "\ufe00" <= mark <= "\ufe0f"  # Variation Selectors
        or "\U000e0100" <= mark <= "\U000e01ef"  # Variation Selectors Supplement
        or "\u180b" <= mark <= "\u180f"  # Mongolian free variation selectors
    )


def _is_latin(char: str) -> bool:
    return (
        char <= "\u02af"  # Basic Latin to IPA Extensions
        or "\u1d00" <= char <= "\u1d7f"  # Phonetic Extensions (small capitals)
        or "\u1e00" <= char <= "\u1eff"  # Latin Extended Additional
        or "\u2c60" <= char <= "\u2c7f"  # Latin Extended-C
        or "\ua720" <= char <= "\ua7ff"  # Latin Extended-D
    )


def _read_as_latin(match: re.Match[str]) -> str:
    """A word of only Latin letters and lookalikes is read as Latin; any other word is kept."""
    word = match.group()
    if all(char in _LOOKALIKES or _is_latin(char) for char in word):
        return word.translate(_LOOKALIKE_TABLE)
    return word


def _leet_forms(word: str) -> list[str]:
    """The word with leetspeak read as letters, if it mixes letters with leet digits or symbols.

    Plain numbers have no letters and are never read; neither is a number with a unit (`4k`,
    `1080p`, `60fps`, `2nd`), which is a quantity rather than a disguised word.
    """
    if not any(char in _LEET for char in word) or not any(char.isalpha() for char in word):
        return []
    quantity = _NUMBER_WITH_UNIT.fullmatch(word)
    if quantity and quantity.group(1) in _UNITS:
        return []
    forms = [word.translate(_LEET_AS_I)]
    if "1" in word:
        forms.append(word.translate(_LEET_AS_L))
    return forms


def _respellings(word: str) -> tuple[list[str], list[str]]:
    """Leetspeak readings of a word, then readings with stretched letters shortened."""
    leet = _leet_forms(word)
    others: list[str] = []
    for form in leet or [word]:
        if _STRETCHED.search(form):
            others.extend((_STRETCHED.sub(r"\1", form), _STRETCHED.sub(r"\1\1", form)))
    return leet, [form for form in dict.fromkeys(others) if form != word and form not in leet]


def _spelled_runs(
    text: str, matches: list[re.Match[str]], first: int, last: int, *, same_separator: bool
) -> list[tuple[int, int]]:
    """Token ranges, within `first` to `last`, of words spelled out letter by letter.

    A run is at least three single letters or digits (one a letter), each separated from the
    next by one to three characters of spaces or punctuation; with `same_separator`, the run
    also ends where the separator changes (`x n.u.d.e` holds the uniform run `n.u.d.e`).
    """
    runs: list[tuple[int, int]] = []
    start: int | None = None
    separator: str | None = None
    for index in range(first, last):
        if not _spelled_letter(matches[index].group()):
            if start is not None:
                runs.append((start, index))
            start = None
            continue
        if start is None:
            start, separator = index, None
            continue
        gap = text[matches[index - 1].end() : matches[index].start()]
        if not 0 < len(gap) <= _MAX_GAP:
            runs.append((start, index))
            start, separator = index, None
        elif same_separator and separator is not None and gap != separator:
            runs.append((start, index))
            start, separator = index - 1, gap
        else:
            separator = gap
    if start is not None:
        runs.append((start, last))
    return [
        (begin, end)
        for begin, end in runs
        if end - begin >= _MIN_SPELLED
        and any(matches[i].group().isalpha() for i in range(begin, end))
    ]


def _spelled_letter(token: str) -> bool:
    """A single letter or digit that may be part of a spelled-out word (CJK characters not)."""
    return len(token) == 1 and not _CJK_CHAR.match(token)


def _run_readings(tokens: tuple[str, ...], first: int, last: int) -> list[tuple[int, int]]:
    """The run itself, and the run without a lone `a` or `i` at either end if enough remains."""
    starts = [first, first + 1] if tokens[first] in _LONE_WORDS else [first]
    ends = [last, last - 1] if tokens[last - 1] in _LONE_WORDS else [last]
    return [(s, e) for s in starts for e in ends if e - s >= _MIN_SPELLED]


def _rewrite(text: str, rewrites: list[tuple[int, int, str]]) -> str:
    """Replace character spans (earliest, then longest, first; overlapping ones skipped)."""
    pieces: list[str] = []
    position = 0
    for start, end, replacement in sorted(rewrites, key=lambda r: (r[0], -r[1])):
        if start < position:
            continue
        pieces.extend((text[position:start], replacement))
        position = end
    pieces.append(text[position:])
    return "".join(pieces)
