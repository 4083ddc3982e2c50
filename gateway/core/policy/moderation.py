"""An external moderation classifier as the policy sees it: the service a policy names,
what it answered for a prompt (scores per category, or a failure), and how that answer
is read and recorded.

The service speaks the OpenAI moderation API: `POST {"model", "input"}` answered by
`{"results": [{"flagged", "categories", "category_scores"}]}`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from gateway.core.policy.decision import Action

# The categories of the OpenAI moderation API (omni-moderation), by their API names.
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
DEFAULT_MODEL: Final = "omni-moderation-latest"


@dataclass(frozen=True, slots=True)
class ModerationService:
    """The policy's `moderation:` key: where the classifier is, how long to wait for it,
    and what every moderation rule reads as when it fails (`deny`, `hold` or `allow`)."""

    url: str
    timeout: float
    on_error: Action
    model: str = DEFAULT_MODEL


@dataclass(frozen=True, slots=True)
class ModerationScores:
    """The classifier's answer for one prompt."""

    scores: Mapping[str, float]
    flagged: bool = False

    def score(self, category: str) -> float:
        return self.scores.get(category, 0.0)


@dataclass(frozen=True, slots=True)
class ModerationFailure:
    """No usable answer: timed out, unreachable, an error status or an unreadable body."""

    reason: str


Moderation = ModerationScores | ModerationFailure


def request_document(service: ModerationService, prompt: str) -> dict[str, Any]:
    return {"model": service.model, "input": prompt}


class UnreadableAnswer(ValueError):
    """A moderation API answer that is not one."""


def read_answer(document: object) -> ModerationScores:
    """The scores of a moderation API answer; `UnreadableAnswer` when it is not one."""
    if not isinstance(document, dict):
        raise UnreadableAnswer("the answer is not a JSON object")
    results = document.get("results")
    if not isinstance(results, list) or not results or not isinstance(results[0], dict):
        raise UnreadableAnswer("the answer has no results")
    result = results[0]
    raw = result.get("category_scores")
    if not isinstance(raw, dict):
        raise UnreadableAnswer("the answer has no category_scores")
    scores: dict[str, float] = {}
    for category, value in raw.items():
        if not isinstance(category, str):
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise UnreadableAnswer(f"the score of {category!r} is not a number")
        scores[category] = float(value)
    flagged = result.get("flagged")
    return ModerationScores(scores, flagged if isinstance(flagged, bool) else False)


def moderation_record(
    moderation: Moderation, categories: Iterable[str], on_error: Action
) -> dict[str, Any]:
    """The audit record's `moderation` field: the scores the rules used, or the failure
    and the action every moderation rule read as because of it."""
    if isinstance(moderation, ModerationFailure):
        return {
            "scores": None,
            "flagged": None,
            "error": moderation.reason,
            "on_error": on_error.label,
        }
    return {
        "scores": {category: moderation.score(category) for category in sorted(set(categories))},
        "flagged": moderation.flagged,
        "error": None,
        "on_error": None,
    }


def recorded_moderation(value: object) -> Moderation | None:
    """What a recorded `moderation` field says the classifier answered (None: nothing
    usable was recorded). Categories it does not list read as never recorded."""
    if not isinstance(value, dict):
        return None
    error = value.get("error")
    if isinstance(error, str):
        return ModerationFailure(error)
    scores = value.get("scores")
    if not isinstance(scores, dict):
        return None
    return ModerationScores(
        {k: float(v) for k, v in scores.items() if isinstance(v, int | float)},
        bool(value.get("flagged")),
    )
