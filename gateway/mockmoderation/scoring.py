"""Deterministic scores from weighted keywords: the same text always scores the same.

Each category has words that raise its score; the score of a text is the chance that
at least one of its words "fires" (1 - product of (1 - weight)), so more and stronger
words score higher and no score reaches 1. Good enough to try moderation rules with,
and not a classifier: it knows nothing of meaning.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

CATEGORIES: Final = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
FLAG_AT: Final = 0.5

WEIGHTS: Final[Mapping[str, Mapping[str, float]]] = {
    "harassment": {"idiot": 0.5, "loser": 0.45, "stupid": 0.3, "mock": 0.2, "bully": 0.5},
    "harassment/threatening": {"threaten": 0.6, "hunt you": 0.8, "you will pay": 0.6},
    "hate": {"subhuman": 0.85, "vermin": 0.6, "inferior race": 0.9},
    "hate/threatening": {"exterminate": 0.8, "wipe them out": 0.8},
    "illicit": {"cocaine": 0.6, "meth": 0.6, "counterfeit": 0.5, "smuggle": 0.45},
    "illicit/violent": {"bomb": 0.7, "explosive": 0.55, "molotov": 0.8},
    "self-harm": {"self-harm": 0.85, "suicide": 0.8, "cutting herself": 0.85},
    "self-harm/instructions": {"how to overdose": 0.9},
    "self-harm/intent": {"i want to die": 0.9, "end my life": 0.9},
    "sexual": {"nude": 0.7, "naked": 0.65, "explicit": 0.5, "erotic": 0.7, "sex": 0.6},
    "sexual/minors": {"schoolgirl": 0.6, "underage": 0.8},
    "violence": {
        "fight": 0.3,
        "punch": 0.35,
        "stab": 0.6,
        "shoot": 0.5,
        "kill": 0.6,
        "blood": 0.45,
        "war": 0.3,
        "gun": 0.35,
    },
    "violence/graphic": {
        "gore": 0.85,
        "dismember": 0.9,
        "decapitat": 0.9,
        "entrails": 0.9,
        "blood": 0.4,
        "mutilat": 0.85,
        "corpse": 0.5,
    },
}
# A word's stem matches at the start of a word: `decapitat` matches `decapitated`.
_PATTERNS: Final = {
    category: [(re.compile(r"\b" + re.escape(word)), weight) for word, weight in words.items()]
    for category, words in WEIGHTS.items()
}


def scores(text: str) -> dict[str, float]:
    lowered = text.casefold()
    result: dict[str, float] = {}
    for category in CATEGORIES:
        miss = 1.0
        for pattern, weight in _PATTERNS.get(category, ()):
            if pattern.search(lowered):
                miss *= 1.0 - weight
        result[category] = round(1.0 - miss, 6)
    return result
