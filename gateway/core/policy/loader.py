"""Policy files to a compiled `Policy`: parse, validate, merge, cross-check, compile.

Pure: the edge passes the files' text in and a function that reads a word list.
Every problem found is reported at once, as `file:line: message`; nothing is
half-loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from gateway.core.policy.compiled import (
    PassthroughRoute,
    Phase,
    Policy,
    PolicySummary,
    Rule,
    Tier,
    route_pattern,
)
from gateway.core.policy.decision import Action
from gateway.core.policy.errors import PolicyError, PolicyErrors
from gateway.core.policy.inflection import language_of
from gateway.core.policy.limits import LimitKind, LimitScope, LimitSpec
from gateway.core.policy.matchers import TermSpec, compile_matcher, moderation_categories
from gateway.core.policy.messages import policy_errors
from gateway.core.policy.model import (
    FileModel,
    LimitModel,
    ListModel,
    ListRef,
    MatcherModel,
    ModerationModel,
    PhaseModel,
    RouteModel,
    RuleModel,
    TierModel,
)
from gateway.core.policy.moderation import DEFAULT_MODEL, ModerationService
from gateway.core.policy.source import (
    Path,
    PathKey,
    PolicyFile,
    Source,
    basename,
    parse_source,
    parse_terms,
    policy_version,
)
from gateway.core.policy.terms import TermGroup, TermMatcher
from gateway.core.routes import documented_methods

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
ReadList = Callable[[str], str | None]


@dataclass(frozen=True, slots=True)
class _At(Generic[T]):
    """A value (None when invalid) and where it was written."""

    value: T
    source: Source
    path: Path

    @property
    def where(self) -> str:
        return f"{self.source.file}:{self.source.line(self.path)}"

    def error(self, message: str, *sub: PathKey) -> PolicyError:
        return self.source.at((*self.path, *sub), message)


def _known(names: Mapping[str, object], kind: str) -> str:
    return f"({kind}: {', '.join(sorted(names)) or 'none defined'})"


def _list_refs(node: MatcherModel, path: Path) -> Iterator[tuple[Path, ListRef]]:
    if isinstance(node.prompt_matches_any, ListRef):
        yield (*path, "prompt_matches_any"), node.prompt_matches_any
    for key, children in (("all", node.all_), ("any", node.any_)):
        for index, child in enumerate(children or ()):
            yield from _list_refs(child, (*path, key, index))
    if node.not_ is not None:
        yield from _list_refs(node.not_, (*path, "not"))


class _Merge:
    """The pieces of every file, merged, with the errors found on the way."""

    def __init__(self) -> None:
        self.errors: list[PolicyError] = []
        self.version: _At[int] | None = None
        self.default_phase: _At[str] | None = None
        self.phases_given = False
        self.phases: dict[str, _At[PhaseModel | None]] = {}
        self.tiers: dict[str, _At[TierModel | None]] = {}
        self.rules: dict[str, _At[RuleModel | None]] = {}
        self.lists: dict[str, _At[ListModel]] = {}
        self.routes: dict[str, _At[RouteModel | None]] = {}
        self.moderation: _At[ModerationModel | None] | None = None
        # Kinds a broken file may have defined: references to them are not checked.
        self.unsure: set[PathKey] = set()

    def _validate(self, model: type[M], source: Source, path: Path, value: object) -> M | None:
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            self.errors.extend(policy_errors(exc, source, path, model))
            return None

    def add(self, source: Source) -> None:
        data = source.data
        if not isinstance(data, dict):
            self.errors.append(source.at((), "the top level must be a mapping of keys"))
            self.unsure.update(("phases", "tiers", "lists", "moderation"))
            return
        # `key:` with no value: reported here, so the other keys still validate.
        present = {key: value for key, value in data.items() if value is not None}
        for key in data.keys() - present.keys():
            self.errors.append(source.at((key,), f"{key} has no value"))
        bad: set[PathKey] = set()
        try:
            FileModel.model_validate(present)
        except ValidationError as exc:
            self.errors.extend(policy_errors(exc, source, (), FileModel))
            for error in exc.errors():
                bad.update(error["loc"][:1] or present)
        good = {key: value for key, value in present.items() if key not in bad}
        self.unsure.update(data.keys() - good.keys())
        self._add_settings(source, good)
        self.phases_given = self.phases_given or "phases" in data
        for index, item in enumerate(good.get("phases", ())):
            path = ("phases", index)
            phase = self._validate(PhaseModel, source, path, item)
            name = phase.name if phase else item.get("name") if isinstance(item, dict) else None
            self._define(self.phases, "phase", name, _At(phase, source, path))
        for name, item in good.get("tiers", {}).items():
            tier = self._validate(TierModel, source, ("tiers", name), item)
            self._define(self.tiers, "tier", name, _At(tier, source, ("tiers", name)))
        for index, item in enumerate(good.get("rules", ())):
            path = ("rules", index)
            rule = self._validate(RuleModel, source, path, item)
            rule_id = rule.id if rule else item.get("id") if isinstance(item, dict) else None
            self._define(self.rules, "rule id", rule_id, _At(rule, source, path))
        self._add_lists(source, good.get("lists", {}))
        for index, item in enumerate(good.get("routes", ())):
            path = ("routes", index)
            route = self._validate(RouteModel, source, path, item)
            key = f"{route.method} {route.path}" if route else None
            self._define(self.routes, "route", key, _At(route, source, path))
        if "moderation" in good:
            service = self._validate(ModerationModel, source, ("moderation",), good["moderation"])
            here = _At(service, source, ("moderation",))
            if self.moderation is None:
                self.moderation = here
            else:
                message = f"moderation is configured twice (first at {self.moderation.where})"
                self.errors.append(here.error(message))

    def _add_lists(self, source: Source, lists: Mapping[str, object]) -> None:
        for name, item in lists.items():
            spec = self._list(source, name, item)
            if spec is not None:
                self._define(self.lists, "list", name, _At(spec, source, ("lists", name)))

    def _list(self, source: Source, name: str, item: object) -> ListModel | None:
        """`NAME: PATH` or `NAME: {file: PATH, fuzzy: 0|1}`."""
        if isinstance(item, str) and item:
            return ListModel(file=item)
        if isinstance(item, dict):
            return self._validate(ListModel, source, ("lists", name), item)
        message = f"list {name!r} must be a file path or {{file: PATH, fuzzy: 0 or 1}}"
        self.errors.append(source.at(("lists", name), f"{message} (got {item!r})"))
        self.unsure.add("lists")
        return None

    def _add_settings(self, source: Source, data: Mapping[PathKey, object]) -> None:
        version, default_phase = data.get("version"), data.get("default_phase")
        if isinstance(version, int):
            here = _At(version, source, ("version",))
            if self.version is None:
                self.version = here
            elif self.version.value != version:
                message = f"version {version} disagrees with version {self.version.value}"
                self.errors.append(here.error(f"{message} at {self.version.where}"))
        if isinstance(default_phase, str):
            at = _At(default_phase, source, ("default_phase",))
            if self.default_phase is None:
                self.default_phase = at
            elif self.default_phase.value != default_phase:
                message = f"default_phase {default_phase!r} disagrees with"
                message += f" {self.default_phase.value!r} at {self.default_phase.where}"
                self.errors.append(at.error(message))

    def _define(self, into: dict[str, _At[T]], kind: str, name: object, at: _At[T]) -> None:
        if not isinstance(name, str):
            return
        first = into.get(name)
        if first is None:
            into[name] = at
        else:
            message = f"duplicate {kind} {name!r} (first defined at {first.where})"
            self.errors.append(at.error(message))

    def check(self) -> None:
        """The references between pieces: tiers, phases and lists must exist."""
        self._check_phases()
        self._check_rules()
        self._check_routes()
        for tier_name, at in self.tiers.items():
            seen: set[str] = set()
            for index, limit in enumerate(at.value.limits if at.value else ()):
                if limit.name in seen:
                    message = f"tier {tier_name!r} has two limits named {limit.name!r}"
                    self.errors.append(at.error(message, "limits", index))
                seen.add(limit.name)

    def _check_phases(self) -> None:
        tiers = _known(self.tiers, "tiers")
        for name, at in self.phases.items():
            phase = at.value
            if phase is None or "tiers" in self.unsure:
                continue
            for index, tier in enumerate(phase.admit):
                if tier not in self.tiers:
                    message = f"phase {name!r} admits unknown tier {tier!r} {tiers}"
                    self.errors.append(at.error(message, "admit", index))
            for tier in phase.rollout:
                if tier not in self.tiers:
                    message = f"phase {name!r} rolls out unknown tier {tier!r} {tiers}"
                    self.errors.append(at.error(message, "rollout", tier))
                elif tier not in phase.admit:
                    message = f"phase {name!r} rolls out tier {tier!r}, which it does not admit"
                    self.errors.append(at.error(message, "rollout", tier))
        default = self.default_phase
        if default is not None and default.value not in self.phases and "phases" not in self.unsure:
            phases = _known(self.phases, "phases")
            message = f"default_phase {default.value!r} is not a phase {phases}"
            self.errors.append(default.error(message))

    def _check_rules(self) -> None:
        tiers, lists = _known(self.tiers, "tiers"), _known(self.lists, "lists")
        for rule_id, at in self.rules.items():
            rule = at.value
            if rule is None:
                continue
            for index, tier in enumerate(rule.tiers or ()):
                if tier not in self.tiers and "tiers" not in self.unsure:
                    message = f"rule {rule_id!r} names unknown tier {tier!r} {tiers}"
                    self.errors.append(at.error(message, "tiers", index))
            for path, ref in _list_refs(rule.when, ("when",)):
                if ref.name not in self.lists and "lists" not in self.unsure:
                    message = f"rule {rule_id!r} uses undeclared list {ref.name!r} {lists}"
                    self.errors.append(at.error(message, *path))
            if (
                moderation_categories(rule.when)
                and self.moderation is None
                and "moderation" not in self.unsure
            ):
                message = (
                    f"rule {rule_id!r} reads moderation scores, but no moderation service"
                    " is configured (add a top-level moderation: key)"
                )
                self.errors.append(at.error(message, "when"))

    def _check_routes(self) -> None:
        tiers = _known(self.tiers, "tiers")
        for key, at in self.routes.items():
            route = at.value
            if route is None:
                continue
            # Any value for each placeholder: a listed route must not shadow a documented
            # one, which has checks of its own that a passthrough would skip.
            example = "/".join("x" if s.startswith("{") else s for s in route.path.split("/"))
            if documented_methods(example):
                message = f"route {key!r} overlaps a documented route, which cannot be listed"
                self.errors.append(at.error(message, "path"))
            for index, tier in enumerate(route.tiers or ()):
                if tier not in self.tiers and "tiers" not in self.unsure:
                    message = f"route {key!r} names unknown tier {tier!r} {tiers}"
                    self.errors.append(at.error(message, "tiers", index))

    def read_lists(self, read_list: ReadList) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
        """Each declared list file's text (by path) and terms (by list name)."""
        texts: dict[str, str] = {}
        terms: dict[str, tuple[str, ...]] = {}
        for name, at in self.lists.items():
            file = at.value.file
            text = texts.get(file)
            if text is None:
                text = read_list(file)
            if text is None:
                self.errors.append(at.error(f"list {name!r}: file {file!r} not found"))
                continue
            texts[file] = text
            terms[name] = parse_terms(text)
        return texts, terms


def _limit(model: LimitModel) -> LimitSpec:
    scope = LimitScope(model.per)
    if model.concurrency is not None:
        return LimitSpec(model.name, scope, LimitKind.CONCURRENCY, concurrency=model.concurrency)
    kind = LimitKind.RATE if model.cost is None else LimitKind.COST
    burst = model.burst if model.burst is not None else model.rate
    return LimitSpec(model.name, scope, kind, model.rate, model.period, burst, model.cost)


def _compile(merge: _Merge, terms: Mapping[str, tuple[str, ...]], version: str) -> Policy:
    matchers: dict[tuple[TermSpec, ...], TermMatcher] = {}

    def terms_for(specs: tuple[TermSpec, ...]) -> TermMatcher:
        # One TermMatcher per list (or set of lists) and per distinct inline set, however
        # many rules use it; each list keeps its own language and fuzziness.
        if specs not in matchers:
            groups = []
            for spec in specs:
                if isinstance(spec, ListRef):
                    declared = merge.lists[spec.name].value
                    language = language_of(declared.file)
                    groups.append(TermGroup(terms[spec.name], language, declared.fuzzy))
                else:
                    groups.append(TermGroup(spec))
            matchers[specs] = TermMatcher.compile_groups(groups)
        return matchers[specs]

    phases = tuple(
        Phase(name, tuple(p.admit), MappingProxyType(dict(p.rollout)))
        for name, at in merge.phases.items()
        if (p := at.value) is not None
    )
    tiers = {
        name: Tier(
            name, tuple(t.models), t.max_seconds, tuple(t.sizes), tuple(map(_limit, t.limits))
        )
        for name, at in merge.tiers.items()
        if (t := at.value) is not None
    }
    rules = tuple(
        Rule(
            rule_id,
            Action[r.action.upper()],
            compile_matcher(r.when, terms_for),
            frozenset(r.tiers) if r.tiers is not None else None,
            r.message,
            r.mode == "shadow",
            moderation_categories(r.when),
        )
        for rule_id, at in merge.rules.items()
        if (r := at.value) is not None
    )
    summary = PolicySummary(
        phases=len(phases),
        tiers=len(tiers),
        rules=len(rules),
        shadow_rules=sum(rule.shadow for rule in rules),
        lists=len(terms),
        list_terms=sum(map(len, terms.values())),
    )
    routes = tuple(
        PassthroughRoute(
            route.method,
            route.path,
            route_pattern(route.path),
            frozenset(route.tiers) if route.tiers is not None else None,
        )
        for at in merge.routes.values()
        if (route := at.value) is not None
    )
    default_phase = merge.default_phase.value if merge.default_phase else phases[0].name
    service = merge.moderation.value if merge.moderation else None
    moderation = (
        ModerationService(
            service.url,
            service.timeout,
            Action[service.on_error.upper()],
            service.model or DEFAULT_MODEL,
        )
        if service is not None
        else None
    )
    return Policy(
        version, default_phase, phases, MappingProxyType(tiers), rules, summary, routes, moderation
    )


def load_policy(files: Sequence[PolicyFile], read_list: ReadList) -> Policy:
    """The compiled policy of the files merged; raises `PolicyErrors` listing every problem.

    Files are merged in name order; `read_list(relative_path)` returns a word list
    file's text, or None when it is missing.
    """
    ordered = sorted(files, key=lambda f: (basename(f.name), f.name))
    merge = _Merge()
    for file in ordered:
        source, errors = parse_source(file.name, file.text)
        merge.errors.extend(errors)
        if source is not None:
            merge.add(source)
        else:
            merge.unsure.update(("phases", "tiers", "lists", "moderation"))
    if not merge.phases_given and "phases" not in merge.unsure:
        where = ordered[0].name if ordered else "(no policy files)"
        merge.errors.append(PolicyError(where, 1, "no phases defined: add a phases list"))
    merge.check()
    texts, terms = merge.read_lists(read_list)
    if merge.errors:
        raise PolicyErrors(merge.errors)
    return _compile(merge, terms, policy_version(ordered, texts))
