"""Recorded generation requests judged again under two policies, and what would change.

`policy replay` feeds every replayable audit record (see `replayable`) to a `Replay`,
which judges it under the current policy and the new one with the gateway's own judge
(`gateway.core.policy.judge`) and keeps only counts and a few example request ids per
change and per rule: its memory does not grow with the log. Records that ask the same
of the same tier (the prompt, model, parameters, attachment, remix, classifier scores)
are judged once while they stay in a bounded cache.

What a replay leaves out, by design: rate limits, tokens and phases; a request the
gateway refused for any of those is not replayed, and neither is one it could not
read. A record without the classifier's scores passes over the moderation rules (they
are counted as `unscored` where either policy has some for the tier).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from gateway.core.policy.compiled import Policy
from gateway.core.policy.judge import judge
from gateway.core.policy.matchers import (
    AllOf,
    AnyOf,
    Matcher,
    Not,
    PromptRegex,
    PromptTerms,
    Subject,
    text_key,
)
from gateway.core.policy.moderation import recorded_moderation
from gateway.core.policy.request import GenerationRequest, InputReference

REPLAYED_EVENTS: Final = frozenset({"generation_request", "refusal"})
# The refusals that were a judgement: a deny rule, or the tier's model, seconds or size.
_TIER_CODES: Final = frozenset({"model_not_allowed", "invalid_request"})
_REMIX_ROUTE: Final = "/v1/videos/{id}/remix"
_SOME_REFERENCE: Final = InputReference(size=0, sha256="")
DEFAULT_CACHE: Final = 1 << 16


# The bytes of a replayed event's line. Records are canonical JSON, where a quote inside
# a string is always escaped, so these are the record's own `event` (or a nested
# object's, which the exact check after parsing turns away).
_EVENT_BYTES: Final = (b'"event":"generation_request"', b'"event":"refusal"')


def replayable_records(
    blocks: Iterable[bytes],
    *,
    tiers: frozenset[str] = frozenset(),
    since: str | None = None,
    until: str | None = None,
) -> Iterator[dict[str, Any]]:
    """The replayable records of blocks of whole lines, in order, from the tiers asked
    for (all when empty) and within [since, until) (record times). Lines of other events
    are passed over by their bytes, unparsed; lines that are not JSON objects too."""
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    request_bytes, refusal_bytes = _EVENT_BYTES
    timed = since is not None or until is not None
    for block in blocks:
        for line in block.split(b"\n"):
            if request_bytes not in line and refusal_bytes not in line:
                continue
            try:
                record = loads(line)
            except decode_error:
                continue
            if type(record) is not dict or not replayable(record):
                continue
            if tiers and record["tier"] not in tiers:
                continue
            if timed and not _within(record.get("time"), since, until):
                continue
            yield record


def _within(time: object, since: str | None, until: str | None) -> bool:
    return (
        isinstance(time, str)
        and (since is None or time >= since)
        and (until is None or time < until)
    )


def replayable(record: Mapping[str, Any]) -> bool:
    """A request the gateway judged by its policy: let through or held, denied by a rule,
    or refused for exceeding its tier (not for limits, tokens, phases or a bad body)."""
    event = record.get("event")
    if event == "generation_request":
        return isinstance(record.get("prompt"), str) and isinstance(record.get("tier"), str)
    if event != "refusal" or not isinstance(record.get("prompt"), str):
        return False
    if not isinstance(record.get("tier"), str):
        return False
    decision = record.get("decision")
    return decision == "deny" or (decision == "refused" and record.get("code") in _TIER_CODES)


def recorded_request(record: Mapping[str, Any]) -> GenerationRequest:
    """The request as the gateway judged it, from its record."""
    params = record.get("params")
    model = record.get("model")
    return GenerationRequest(
        prompt=record["prompt"],
        model=model if isinstance(model, str) else None,
        params=params if isinstance(params, dict) else {},
        input_reference=_reference(record),
        is_remix=record.get("route") == _REMIX_ROUTE,
    )


def _filename(record: Mapping[str, Any]) -> str | None:
    reference = record.get("input_reference")
    name = reference.get("filename") if isinstance(reference, dict) else None
    return name if isinstance(name, str) else None


def _reference(record: Mapping[str, Any]) -> InputReference | None:
    """Whether the request had a reference, and its file name (the words a caller may
    have written there are judged like the prompt's)."""
    if record.get("input_reference") is None:
        return None
    filename = _filename(record)
    return _SOME_REFERENCE if filename is None else InputReference(size=0, filename=filename)


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What replaying one request shows: its decision's change, the rules it newly
    matches and no longer matches, and whether its moderation rules went unscored."""

    change: tuple[str, str] | None
    newly: tuple[str, ...]
    no_longer: tuple[str, ...]
    unscored: bool
    quiet: bool = field(init=False)  # nothing to count but the request itself

    def __post_init__(self) -> None:
        quiet = not (self.change or self.newly or self.no_longer or self.unscored)
        object.__setattr__(self, "quiet", quiet)


@dataclass(slots=True)
class _Tally:
    count: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, request_id: str, limit: int) -> None:
        self.count += 1
        if len(self.examples) < limit:
            self.examples.append(request_id)


class Replay:
    """Counts of what changes between `current` and `new` over the records added."""

    def __init__(
        self, current: Policy, new: Policy, *, examples: int = 5, cache: int = DEFAULT_CACHE
    ) -> None:
        self.current = current
        self.new = new
        self.total = 0
        self.changed = 0
        self.unscored = 0
        self._examples = examples
        self._changes: dict[tuple[str, str], _Tally] = {}
        self._newly: dict[str, _Tally] = {}
        self._no_longer: dict[str, _Tally] = {}
        self._cache: OrderedDict[Hashable, _Outcome] = OrderedDict()
        self._cache_size = cache
        # Most of a judgement is reading the prompt: read each text once while it is here.
        self._readings: OrderedDict[Hashable, tuple[Subject, tuple[int, ...]]] = OrderedDict()
        self._text_tests = _text_tests(current) + _text_tests(new)

    def add(self, record: Mapping[str, Any]) -> None:
        """Judge one replayable record (see `replayable`) under both policies."""
        # Once per record of the log: the common path (a judgement seen before) is kept
        # to a few dictionary look-ups on the record's own fields.
        get = record.get
        prompt: str = record["prompt"]
        tier: str = record["tier"]
        params = get("params")
        if type(params) is not dict:
            params = {}
        recorded = get("moderation")
        reading = self._readings.get(text_key(prompt, params, _filename(record)))
        if reading is None:
            reading = self._read(recorded_request(record))
        # A judgement depends on the text only through what the policies' text tests
        # (term lists, regexes) make of it: judged once per such outcome and the rest.
        key = (
            tier,
            get("model"),
            tuple(params.items()),
            # 1 == 1.0 == True to a dict; the types keep apart what a policy tells apart.
            tuple(map(type, params.values())),
            get("input_reference") is not None,
            get("route") == _REMIX_ROUTE,
            None if recorded is None else _moderation_key(recorded),
            reading[1],
        )
        try:
            outcome = self._cache.get(key)
        except TypeError:  # a parameter no gateway writes (a list, say): not cached
            outcome = self._judged(recorded_request(record), tier, recorded, reading[0])
        else:
            if outcome is None:
                request = recorded_request(record)
                outcome = self._cache[key] = self._judged(request, tier, recorded, reading[0])
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        self.total += 1
        if outcome.quiet:
            return
        self.unscored += outcome.unscored
        request_id = str(record.get("request_id"))
        limit = self._examples
        if outcome.change is not None:
            self.changed += 1
            tally = self._changes.get(outcome.change)
            if tally is None:
                tally = self._changes[outcome.change] = _Tally()
            tally.add(request_id, limit)
        for rule_id in outcome.newly:
            self._newly.setdefault(rule_id, _Tally()).add(request_id, limit)
        for rule_id in outcome.no_longer:
            self._no_longer.setdefault(rule_id, _Tally()).add(request_id, limit)

    def _judged(
        self, request: GenerationRequest, tier: str, recorded: object, reading: Subject
    ) -> _Outcome:
        moderation = recorded_moderation(recorded)
        verdicts = []
        unscored = False
        for policy in (self.current, self.new):
            reads_scores = bool(policy.moderation_categories(tier))
            unscored = unscored or (reads_scores and moderation is None)
            scores = moderation if reads_scores else None
            judgement = judge(policy, request, tier, scores, reading=reading)
            verdicts.append((judgement.label, judgement.rule_ids))
        (before, before_rules), (after, after_rules) = verdicts
        return _Outcome(
            change=None if before == after else (before, after),
            newly=tuple(r for r in after_rules if r not in before_rules),
            no_longer=tuple(r for r in before_rules if r not in after_rules),
            unscored=unscored,
        )

    def _read(self, request: GenerationRequest) -> tuple[Subject, tuple[int, ...]]:
        """A subject of the request's text (see `text_key`), kept for the next request
        with it, and what each text test of either policy makes of the text."""
        subject = Subject(request)
        outcomes = tuple(test.mask(subject) for test in self._text_tests)
        reference = request.input_reference
        key = text_key(request.prompt, request.params, reference.filename if reference else None)
        reading = self._readings[key] = (subject, outcomes)
        if len(self._readings) > self._cache_size:
            self._readings.popitem(last=False)
        return reading

    def document(self) -> dict[str, Any]:
        """`total`, `changed`, `changes: [{from, to, count, examples}]` (most first),
        `rules: [{id, newly_matched, no_longer_matched, examples}]` (every rule of
        either policy, in policy order), `unscored`, and both policy versions."""
        changes = sorted(self._changes.items(), key=lambda item: (-item[1].count, item[0]))
        rule_ids = dict.fromkeys(rule.id for rule in (*self.new.rules, *self.current.rules))
        rule_ids.update(dict.fromkeys((*self._newly, *self._no_longer)))
        empty = _Tally()
        return {
            "total": self.total,
            "changed": self.changed,
            "changes": [
                {"from": before, "to": after, "count": tally.count, "examples": tally.examples}
                for (before, after), tally in changes
            ],
            "rules": [
                {
                    "id": rule_id,
                    "newly_matched": self._newly.get(rule_id, empty).count,
                    "no_longer_matched": self._no_longer.get(rule_id, empty).count,
                    "examples": {
                        "newly_matched": self._newly.get(rule_id, empty).examples,
                        "no_longer_matched": self._no_longer.get(rule_id, empty).examples,
                    },
                }
                for rule_id in rule_ids
            ],
            "unscored": self.unscored,
            "current_version": self.current.version,
            "new_version": self.new.version,
        }


def _leaves(matcher: Matcher) -> list[Matcher]:
    if isinstance(matcher, AllOf | AnyOf):
        return [leaf for child in matcher.children for leaf in _leaves(child)]
    if isinstance(matcher, Not):
        return _leaves(matcher.child)
    return [matcher]


def _text_tests(policy: Policy) -> tuple[Matcher, ...]:
    """The tests of the policy's rules that read the text (term lists and regexes)."""
    tests: dict[int, Matcher] = {}
    for rule in policy.rules:
        for leaf in _leaves(rule.matcher):
            if isinstance(leaf, PromptTerms | PromptRegex):
                tests.setdefault(id(leaf), leaf)
    return tuple(tests.values())


def _moderation_key(value: object) -> Hashable:
    if not isinstance(value, dict):
        return None
    scores = value.get("scores")
    return (
        str(value.get("error")),
        tuple(sorted(scores.items())) if isinstance(scores, dict) else None,
        bool(value.get("flagged")),
    )
