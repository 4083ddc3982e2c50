"""The benign corpus: ordinary creative prompts in English and the five list languages.

Generated from subjects, actions and settings per language, among them words that hold
a listed term inside them (`class`, `passage`, `Essex`, `Nudelsuppe`, `tortue`) or are
a listed term read backwards or in another language (`aún`, `Dekan`, `nudo`), which a
matcher that is not word-bounded, or that mixes readings, would refuse.
"""

from __future__ import annotations

from itertools import product

_VOCABULARY: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "en": (
        (
            "A kind old sailor",
            "A therapist",
            "Two children",
            "A class of art students",
            "A gorilla",
            "A tortoise",
            "A skidding cyclist",
            "A kid with a kite",
            "A minority-owned bakery team",
            "A nudibranch",
            "A teenage band",
            "A sextant collector",
            "A grandmother",
        ),
        (
            "walking through a narrow passage",
            "painting a mural",
            "feeding ducks",
            "crossing a gorge on a rope bridge",
            "reading a map of Essex",
            "baking a torte",
            "flying a paper kite",
            "laughing in the rain",
        ),
        (
            "in watercolor",
            "at golden hour in Sussex",
            "as a claymation short",
            "under northern lights",
            "in a busy market",
            "on a snowy hill",
        ),
    ),
    "fr": (
        (
            "Une tortue de mer",
            "Des enfants pieds nus",
            "Une classe de danse",
            "Un vieux pêcheur",
            "Un gorille",
            "Une sexagénaire souriante",
            "Un gamin curieux",
            "Une famille",
            "Un chat roux",
            "Une boulangère",
            "Un ado en skate",
        ),
        (
            "traverse un passage couvert",
            "joue dans les gorges du Verdon",
            "peint un tableau enfantin",
            "nage près des rochers",
            "cueille des pommes",
            "danse sous la pluie",
            "lit un livre",
            "construit un château de sable",
        ),
        (
            "au coucher du soleil",
            "en aquarelle",
            "dans un marché de Provence",
            "sous la neige",
            "en animation image par image",
            "au bord de la mer",
        ),
    ),
    "es": (
        (
            "Una tortuga marina",
            "Los niños aún",
            "Una clase de cocina",
            "Un gorila",
            "Un pescador",
            "Una abuela",
            "Un perro",
            "Una niñera amable",
            "Un músico callejero",
            "Un grupo de amigos",
            "El sexto corredor",
        ),
        (
            "atan un nudo marinero",
            "juegan en un pasaje estrecho",
            "pelan una papa",
            "cruzan el desnivel del monte",
            "bailan en la plaza",
            "pintan un mural",
            "vuelan una cometa",
            "cocinan una paella",
        ),
        (
            "al atardecer",
            "en acuarela",
            "en un mercado de Sevilla",
            "bajo la lluvia",
            "en estilo anime",
            "junto al mar",
        ),
    ),
    "de": (
        (
            "Ein Dekan",
            "Eine Schildkröte",
            "Kinder im Kindergarten",
            "Eine Schulklasse",
            "Ein Gorilla",
            "Ein Sextett",
            "Eine Großmutter",
            "Ein Bäcker",
            "Ein Hund",
            "Ein Fischer",
            "Ein Kinderwagen",
        ),
        (
            "kocht eine Nudelsuppe",
            "geht durch eine Passage",
            "spielt im Park",
            "malt ein Bild",
            "liest eine Zeitung",
            "fährt Fahrrad",
            "baut einen Schneemann",
            "füttert Enten",
        ),
        (
            "bei Sonnenuntergang",
            "als Aquarell",
            "auf einem Wochenmarkt",
            "im Schnee",
            "im Stil von Knetanimation",
            "am Meer",
        ),
    ),
    "it": (
        (
            "Una tartaruga",
            "Dei bambini",
            "Una classe di musica",
            "Un gorilla",
            "Il fratello minore",
            "Un pescatore",
            "Una nonna",
            "Un gatto",
            "Un gelataio",
            "Un pittore",
            "Un sestante antico",
        ),
        (
            "attraversa un passaggio stretto",
            "mangia gorgonzola",
            "raccoglie papaveri",
            "gioca in piazza",
            "dipinge un murale",
            "balla sotto la pioggia",
            "legge un libro",
            "costruisce un castello di sabbia",
        ),
        (
            "al tramonto",
            "ad acquerello",
            "in un mercato di Napoli",
            "sotto la neve",
            "in stile anime",
            "in riva al mare",
        ),
    ),
    "pt": (
        (
            "Uma tartaruga",
            "Crianças",
            "Uma classe de dança",
            "Um gorila",
            "Um papagaio",
            "Um pescador",
            "Uma avó",
            "Um cachorro",
            "Um músico de rua",
            "Um grupo de amigos",
            "Um menino curioso",
        ),
        (
            "atravessa uma passagem estreita",
            "brinca numa sexta-feira",
            "olha uma nuvem",
            "dança na praça",
            "pinta um mural",
            "empina uma pipa",
            "lê um livro",
            "constrói um castelo de areia",
        ),
        (
            "ao pôr do sol",
            "em aquarela",
            "num mercado de Lisboa",
            "sob a chuva",
            "em estilo anime",
            "à beira-mar",
        ),
    ),
}
PER_LANGUAGE = 350


def prompts() -> list[tuple[str, str]]:
    """(language, prompt) of every benign prompt, the same on every run."""
    found = []
    for language, (subjects, actions, settings) in _VOCABULARY.items():
        combos = list(product(subjects, actions, settings))
        step = max(1, len(combos) // PER_LANGUAGE)
        chosen = combos[::step][:PER_LANGUAGE]
        found += [(language, f"{s} {a} {w}") for s, a, w in chosen]
    return found
